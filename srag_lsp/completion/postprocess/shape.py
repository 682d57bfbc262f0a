"""The shape of a suggestion, decided from the cursor's surroundings: one line, or a block."""

from __future__ import annotations

from dataclasses import dataclass

BLOCK_OPENERS = (":", "{", "(", "[", "=>", "->")


@dataclass(slots=True)
class Shape:
    multiline: bool
    line_prefix: str  # text of the cursor line before the cursor
    line_suffix: str  # text of the cursor line after the cursor
    suffix: str  # the file after the cursor (windowed; more than the prompt's suffix, for trimming repeats)

    @property
    def indent(self) -> str:
        stripped = self.line_prefix.lstrip(" \t")
        return self.line_prefix[: len(self.line_prefix) - len(stripped)]

    @property
    def at_indentation(self) -> bool:
        """The cursor stands in the indentation of its line (nothing but whitespace before it)."""
        return self.line_prefix.strip() == ""


def decide_shape(prefix: str, suffix: str) -> Shape:
    """Mid-line: a single line. On an empty line, or after a block opener, inside an empty body: multi-line."""
    line_prefix = prefix.rsplit("\n", 1)[-1]
    line_suffix = suffix.split("\n", 1)[0]
    rest_after = line_suffix.strip()
    if rest_after and any(ch.isalnum() or ch in "_\"'" for ch in rest_after):
        return Shape(False, line_prefix, line_suffix, suffix)
    if line_prefix.strip() == "":
        return Shape(True, line_prefix, line_suffix, suffix)
    if line_prefix.rstrip().endswith(BLOCK_OPENERS):
        return Shape(True, line_prefix, line_suffix, suffix)
    return Shape(False, line_prefix, line_suffix, suffix)


def indent_width(line: str) -> int:
    expanded = line.expandtabs(4)
    return len(expanded) - len(expanded.lstrip(" "))
