"""What is on screen in each document, as the service last showed it: what characters typed through it leave, and
whether a newer text may replace it.

The service answers a key typed through the shown suggestion from here, with no model call, and starts a
generation only to write on a suggestion that a key cut off (``Shown.whole`` is False).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Shown:
    """The suggestion last shown in a document, at the line and line prefix it was shown for."""

    line: int
    line_prefix: str
    text: str
    stage: str = "draft"
    whole: bool = True  # its generation ended by itself (False: a key or a cancel cut it off while it wrote)


def rest_after_typing(shown: Shown | None, line: int, line_prefix: str) -> str | None:
    """What is left of ``shown`` once the user typed on to ``line_prefix``, or None when the typed characters are not
    its start (or use it up)."""
    if shown is None or shown.line != line or not shown.text:
        return None
    if len(line_prefix) <= len(shown.line_prefix) or not line_prefix.startswith(shown.line_prefix):
        return None
    typed = line_prefix[len(shown.line_prefix):]
    if not shown.text.startswith(typed) or len(typed) >= len(shown.text):
        return None
    return shown.text[len(typed):]


def replaces_held(held: str, text: str, done: bool) -> bool:
    """May a generation's ``text`` replace ``held``, the longer text on screen that it writes on from? Once it
    writes past it, or when it ends with another non-empty text; never with a shorter start of it (no flicker)."""
    writes_past = text.startswith(held) and len(text) > len(held)
    ends_otherwise = done and bool(text.strip()) and not held.startswith(text)
    return writes_past or ends_otherwise
