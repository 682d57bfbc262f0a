"""Levenshtein distance between two texts, for traces and benchmarks."""

from __future__ import annotations


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (characters)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i]
        for j, cb in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
