"""Post-processing of raw model output into a suggestion that fits the cursor: one filter per module.

The order: stop sequences, indentation relative to the cursor, a restated line prefix, one line or the block,
text that repeats the suffix, closing brackets the rest of the line supplies.
"""

from __future__ import annotations

from srag_lsp.completion.postprocess.block_end import cut_at_block_end
from srag_lsp.completion.postprocess.brackets import balance_closers
from srag_lsp.completion.postprocess.indentation import relative_to_cursor
from srag_lsp.completion.postprocess.line_prefix import drop_repeated_line_prefix
from srag_lsp.completion.postprocess.shape import Shape, decide_shape
from srag_lsp.completion.postprocess.stops import cut_at_stops
from srag_lsp.completion.postprocess.suffix_overlap import trim_suffix_repeat

__all__ = ["Shape", "cut_at_stops", "decide_shape", "finish", "first_line_ready"]


def finish(raw: str, shape: Shape, stops: list[str]) -> str:
    """Turn raw model output into the suggestion to show."""
    text, _ = cut_at_stops(raw, stops)
    text = relative_to_cursor(text.replace("\r\n", "\n"), shape)
    text = drop_repeated_line_prefix(text, shape)
    if not shape.multiline:
        # A single line: if the model starts with a newline on a line that has code, nothing to add.
        text = text.split("\n", 1)[0]
    else:
        if shape.line_prefix.strip() and text.startswith("\n") and not text.strip():
            return ""
        text = cut_at_block_end(text, shape)
    text = trim_suffix_repeat(text, shape)
    text = balance_closers(text, shape)
    # Mid-line, a trailing space separates the suggestion from the rest of the line: keep it.
    return text.rstrip("\n") if shape.line_suffix.strip() else text.rstrip()


def first_line_ready(text: str, shape: Shape) -> bool:
    """A suggestion is worth showing once it has a complete first line (or a single-line one ended)."""
    stripped = text.lstrip("\n") if shape.line_prefix.strip() == "" else text
    return "\n" in stripped and bool(stripped.split("\n", 1)[0].strip())
