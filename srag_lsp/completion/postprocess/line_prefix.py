"""Drop a restatement of the code already on the cursor's line ("total = " after "total = ")."""

from __future__ import annotations

from srag_lsp.completion.postprocess.shape import Shape


def drop_repeated_line_prefix(text: str, shape: Shape) -> str:
    typed = shape.line_prefix.strip()
    if len(typed) >= 3 and text.startswith(typed) and len(text) > len(typed):
        return text[len(typed):].lstrip(" ")
    return text
