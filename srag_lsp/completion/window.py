"""The local context around the cursor, laid out for KV-cache reuse.

- The prefix window starts at an *anchor* line that moves in steps of half the window, not with every line:
  pressing Enter or moving a few lines keeps the prompt's start, so the model re-uses its KV cache (a window
  that slid one line per Enter made every new line a full re-evaluation).
- The prompt's suffix is short (the rest of the cursor's line, plus ``suffix_lines`` more): it comes after the
  cursor, so every keystroke evaluates it again (on 2 cores a 20-line suffix costs about a second a keystroke,
  the rest of the line about 100 ms). Post-processing still sees a longer ``tail`` to trim repeats.
- When the cursor stands in a line's indentation, that whitespace is left out of the prompt: the model writes
  the whole line with its indentation, and post-processing places it at the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass

TAIL_LINES = 20  # lines after the cursor that post-processing compares against
MAX_PREFIX_CHARS = 8_000  # a cap for files with very long lines (minified code)


@dataclass(frozen=True, slots=True)
class LocalWindow:
    prefix: str  # the prompt's text before the cursor (from the anchor line)
    suffix: str  # the prompt's text after the cursor (short)
    line_prefix: str  # the cursor line up to the cursor (whitespace included, even when the prompt drops it)
    tail: str  # the file after the cursor, TAIL_LINES lines, for post-processing
    anchor_line: int


def anchor_for(line: int, prefix_lines: int) -> int:
    """The first line of the prefix window: a multiple of half the window, so it moves in steps."""
    start = max(0, line - prefix_lines)
    step = max(1, prefix_lines // 2)
    return min(line, -(-start // step) * step)


def local_window(text: str, line: int, col: int, prefix_lines: int, suffix_lines: int) -> LocalWindow:
    lines = text.split("\n")
    line = min(max(line, 0), len(lines) - 1)
    col = min(max(col, 0), len(lines[line]))
    anchor = anchor_for(line, prefix_lines)
    line_prefix = lines[line][:col]
    before = "\n".join([*lines[anchor:line], line_prefix])
    if line_prefix.strip() == "":
        before = before[: len(before) - len(line_prefix)]
    if len(before) > MAX_PREFIX_CHARS:
        cut = before.find("\n", len(before) - MAX_PREFIX_CHARS)
        before = before[cut + 1:] if cut != -1 else before[-MAX_PREFIX_CHARS:]
    rest = lines[line][col:]
    suffix = "\n".join([rest, *lines[line + 1: line + 1 + suffix_lines]])
    tail = "\n".join([rest, *lines[line + 1: line + 1 + TAIL_LINES]])
    return LocalWindow(before, suffix, line_prefix, tail, anchor)
