"""Drop the part of a suggestion that repeats what already follows the cursor."""

from __future__ import annotations

from srag_lsp.completion.postprocess.shape import Shape


def trim_suffix_repeat(text: str, shape: Shape) -> str:
    """Mid-line, the model often re-writes the rest of the line: keep only what comes before it, and nothing when
    all it wrote is the start of that rest (a text the confidence cut ended, or one still streaming, that would
    insert a copy of what follows). Over lines, a suggested line equal to the next line of the file ends the
    suggestion there (and a suggestion on a blank line that starts by writing that next line suggests nothing)."""
    if shape.line_suffix.strip():
        rest = shape.line_suffix.strip()
        idx = text.find(rest)
        if idx > 0 and "\n" not in text[:idx]:
            return text[:idx]
        if text.strip() and rest.startswith(text.strip()):
            return ""
    below = [ln.strip() for ln in shape.suffix.split("\n")[1:] if ln.strip()]
    if not below:
        return text
    out_lines = text.split("\n")
    start = 0 if shape.at_indentation else 1
    for i in range(start, len(out_lines)):
        if out_lines[i].strip() and out_lines[i].strip() == below[0]:
            return "\n".join(out_lines[:i]).rstrip()
    return text
