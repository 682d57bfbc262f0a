"""Keep a multi-line suggestion inside the block the cursor is in (by indentation)."""

from __future__ import annotations

from srag_lsp.completion.postprocess.shape import Shape, indent_width


def cut_at_block_end(text: str, shape: Shape) -> str:
    """On a blank line the block goes on while lines indent at least as far as the cursor. After a block
    opener (``def f():``, ``if (x) {``) the body must indent further than the cursor line; a closing bracket
    back at the cursor line's level ends the block and belongs to it."""
    lines = text.split("\n")
    base = indent_width(shape.indent)
    on_blank_line = shape.at_indentation
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() == "":
            kept.append(line)
            continue
        width = indent_width(line)
        if on_blank_line:
            if width < base:
                break
        elif width <= base:
            if width == base and line.strip()[0] in ")]}":
                kept.append(line)
            break
        kept.append(line)
    return "\n".join(kept).rstrip()
