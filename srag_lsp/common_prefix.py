"""The length of the longest common prefix of two strings or byte strings, fast for long inputs."""

from __future__ import annotations

from typing import TypeVar

Text = TypeVar("Text", str, bytes)


def common_prefix_length(a: Text, b: Text) -> int:
    """Binary search over slice comparisons, which run in C: microseconds for prompts and source files."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo
