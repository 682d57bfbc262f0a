"""Balance a suggestion's closing brackets against the rest of the line."""

from __future__ import annotations

from srag_lsp.completion.postprocess.shape import Shape

CLOSERS = {")": "(", "]": "[", "}": "{"}
OPENERS = {v: k for k, v in CLOSERS.items()}


def balance_closers(text: str, shape: Shape) -> str:
    """Remove trailing closing brackets that the rest of the line already supplies."""
    rest = shape.line_suffix.strip()
    while text and rest and text.rstrip()[-1:] in CLOSERS and rest[0] == text.rstrip()[-1]:
        depth = 0
        for ch in shape.line_prefix + text:
            if ch in OPENERS:
                depth += 1
            elif ch in CLOSERS:
                depth -= 1
        if depth >= 0:
            # Everything is balanced even with the suffix's closer counted: one closer too many.
            text = text.rstrip()[:-1]
            rest = rest[1:].lstrip()
        else:
            break
    return text
