"""Cut raw model output at the first stop sequence."""

from __future__ import annotations


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
