"""Post-processing of raw model output into a suggestion that fits the cursor.

Single-line vs multi-line by context, stop sequences, the end of the current block by indentation,
text that repeats the suffix, and closing brackets the suffix already has.
"""

from __future__ import annotations

from dataclasses import dataclass

_CLOSERS = {")": "(", "]": "[", "}": "{"}
_OPENERS = {v: k for k, v in _CLOSERS.items()}
_BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")


@dataclass(slots=True)
class Shape:
    multiline: bool
    line_prefix: str  # text of the cursor line before the cursor
    line_suffix: str  # text of the cursor line after the cursor
    suffix: str  # the file after the cursor (windowed)

    @property
    def indent(self) -> str:
        stripped = self.line_prefix.lstrip(" \t")
        return self.line_prefix[: len(self.line_prefix) - len(stripped)]


def decide_shape(prefix: str, suffix: str) -> Shape:
    """Mid-line: a single line. On an empty line, or after a block opener, inside an empty body: multi-line."""
    line_prefix = prefix.rsplit("\n", 1)[-1]
    line_suffix = suffix.split("\n", 1)[0]
    rest_after = line_suffix.strip()
    if rest_after and any(ch.isalnum() or ch in "_\"'" for ch in rest_after):
        return Shape(False, line_prefix, line_suffix, suffix)
    if line_prefix.strip() == "":
        return Shape(True, line_prefix, line_suffix, suffix)
    if line_prefix.rstrip().endswith(_BLOCK_OPENERS):
        return Shape(True, line_prefix, line_suffix, suffix)
    return Shape(False, line_prefix, line_suffix, suffix)


def cut_at_stops(text: str, stops: list[str]) -> tuple[str, bool]:
    """Cut ``text`` at the first stop sequence; True when one was found."""
    best = -1
    for stop in stops:
        if not stop:
            continue
        idx = text.find(stop)
        if idx != -1 and (best == -1 or idx < best):
            best = idx
    return (text[:best], True) if best != -1 else (text, False)


def _indent_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip(" "))


def _cut_at_block_end(text: str, shape: Shape) -> str:
    """Keep lines while they stay inside the block the cursor is in (by indentation).

    On a blank line the block goes on while lines indent at least as far as the cursor. After a block
    opener (``def f():``, ``if (x) {``) the body must indent further than the cursor line; a closing
    bracket back at the cursor line's level ends the block and belongs to it.
    """
    lines = text.split("\n")
    base = _indent_width(shape.indent)
    on_blank_line = shape.line_prefix.strip() == ""
    kept = [lines[0]]
    for line in lines[1:]:
        if line.strip() == "":
            kept.append(line)
            continue
        width = _indent_width(line)
        if on_blank_line:
            if width < base:
                break
        elif width <= base:
            if width == base and line.strip()[0] in ")]}":
                kept.append(line)
            break
        kept.append(line)
    return "\n".join(kept).rstrip()


def _trim_suffix_repeat(text: str, shape: Shape) -> str:
    """Drop the tail of ``text`` that repeats what already follows the cursor."""
    suffix_lines = [ln for ln in shape.suffix.split("\n") if ln.strip()]
    if shape.line_suffix.strip():
        rest = shape.line_suffix
        # Mid-line: the model often re-writes the rest of the line; keep only what comes before it.
        idx = text.find(rest.strip())
        if idx > 0 and "\n" not in text[:idx]:
            return text[:idx]
        if text.strip() == rest.strip():
            return ""
    if suffix_lines:
        first = suffix_lines[0].strip()
        out_lines = text.split("\n")
        for i, line in enumerate(out_lines[1:], start=1):
            if line.strip() and line.strip() == first:
                return "\n".join(out_lines[:i]).rstrip()
    return text


def _balance_closers(text: str, shape: Shape) -> str:
    """Remove trailing closing brackets that the rest of the line already supplies."""
    rest = shape.line_suffix.strip()
    while text and rest and text.rstrip()[-1:] in _CLOSERS and rest[0] == text.rstrip()[-1]:
        depth = 0
        for ch in shape.line_prefix + text:
            if ch in _OPENERS:
                depth += 1
            elif ch in _CLOSERS:
                depth -= 1
        if depth >= 0:
            # Everything is balanced even with the suffix's closer counted: one closer too many.
            text = text.rstrip()[:-1]
            rest = rest[1:].lstrip()
        else:
            break
    return text


def _drop_repeated_line_prefix(text: str, shape: Shape) -> str:
    """Models sometimes restate the code already on the cursor's line ("total = " after "total = ")."""
    typed = shape.line_prefix.strip()
    if len(typed) >= 3 and text.startswith(typed) and len(text) > len(typed):
        return text[len(typed):].lstrip(" ")
    return text


def finish(raw: str, shape: Shape, stops: list[str]) -> str:
    """Turn raw model output into the suggestion to show."""
    text, _ = cut_at_stops(raw, stops)
    text = _drop_repeated_line_prefix(text.replace("\r\n", "\n"), shape)
    if not shape.multiline:
        # A single line: if the model starts with a newline on a line that has code, nothing to add.
        text = text.split("\n", 1)[0]
    else:
        if shape.line_prefix.strip() and text.startswith("\n") and not text.strip():
            return ""
        text = _cut_at_block_end(text, shape)
    text = _trim_suffix_repeat(text, shape)
    text = _balance_closers(text, shape)
    # Mid-line, a trailing space separates the suggestion from the rest of the line: keep it.
    return text.rstrip("\n") if shape.line_suffix.strip() else text.rstrip()


def first_line_ready(text: str, shape: Shape) -> bool:
    """A suggestion is worth showing once it has a complete first line (or a single-line one ended)."""
    stripped = text.lstrip("\n") if shape.line_prefix.strip() == "" else text
    return "\n" in stripped and bool(stripped.split("\n", 1)[0].strip())
