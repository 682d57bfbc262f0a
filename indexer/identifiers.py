"""Splitting identifiers into lowercase sub-words (snake_case, camelCase, acronyms, digits) for full-text search."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

# One sub-word: an acronym (kept apart from a following capitalised word: HTTPResponse -> HTTP, Response),
# a (capitalised) lowercase word, or a run of digits. Digits stay with the word before them (v2, utf8).
# The last alternative takes any other letters (non-ASCII identifiers) as they come.
_SUBWORD = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+|[^\W\d_]+[0-9]*")


@functools.lru_cache(maxsize=65536)
def _split(identifier: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _SUBWORD.findall(identifier))


def split_identifier(identifier: str) -> list[str]:
    """Lowercase sub-words of an identifier: "parseHTTPResponse_v2" -> ["parse", "http", "response", "v2"]."""
    return list(_split(identifier))


def token_string(identifiers: Iterable[str]) -> str:
    """Space-joined lowercase sub-words of each identifier followed by the whole identifier, each once.

    "parseHTTPResponse" contributes "parse http response parsehttpresponse", so a full-text search finds
    the chunk by any sub-word as well as by the whole name.
    """
    seen: dict[str, None] = {}
    for identifier in identifiers:
        parts = _split(identifier)
        for part in parts:
            seen[part] = None
        whole = identifier.lower()
        if (len(parts) != 1 or parts[0] != whole) and whole.strip("_"):
            seen[whole] = None
    return " ".join(seen)
