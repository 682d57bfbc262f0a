"""Indentation relative to the cursor's column.

When the cursor stands in a line's indentation, the prompt leaves that whitespace out (the model writes the
whole line, indentation included, as it was trained to) and this filter places the text at the cursor: the
first line loses the indentation the cursor already supplies; when the model indents less than the cursor
stands, the cursor wins and the following lines keep their indentation relative to the first.
"""

from __future__ import annotations

from srag_lsp.completion.postprocess.shape import Shape, indent_width


def _shift(line: str, by: int) -> str:
    if not line.strip() or by == 0:
        return line
    if by > 0:
        return " " * by + line
    width = min(-by, indent_width(line))
    return line.expandtabs(4)[width:]


def relative_to_cursor(text: str, shape: Shape) -> str:
    """``text`` as written for a line that starts at column 0, placed at the cursor's column."""
    if not shape.at_indentation or not text or text.startswith("\n"):
        return text
    cursor = shape.line_prefix
    first, sep, rest = text.partition("\n")
    body = first.lstrip(" \t")
    written = first[: len(first) - len(body)]
    if written.startswith(cursor):
        return written[len(cursor):] + body + sep + rest
    by = indent_width(cursor) - indent_width(written)
    lines = rest.split("\n") if sep else []
    return body + sep + "\n".join(_shift(line, by) for line in lines)
