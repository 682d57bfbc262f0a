"""Splitting identifiers into lowercase sub-words (snake_case, camelCase, acronyms, digits) for full-text search."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from itertools import chain

# One sub-word: an acronym (kept apart from a following capitalised word: HTTPResponse -> HTTP, Response),
# a (capitalised) lowercase word, or a run of digits. Digits stay with the word before them (v2, utf8).
_SUBWORD = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")


@functools.lru_cache(maxsize=131072)
def _split(identifier: str) -> tuple[str, ...]:
    if identifier.isascii():
        return tuple(word.lower() for word in _SUBWORD.findall(identifier))
    # Other scripts: run the same pattern over the identifier's shape (A upper, a other letters, 0 digits)
    # and cut the identifier where the shape's sub-words are ("grüßeWelt" -> "grüße", "welt").
    shape = "".join(_shape(c) for c in identifier)
    return tuple(identifier[m.start() : m.end()].lower() for m in _SUBWORD.finditer(shape))


def _shape(char: str) -> str:
    if char.isdigit():
        return "0"
    if char.isupper():
        return "A"
    if char.isalpha():
        return "a"
    return "_"


@functools.lru_cache(maxsize=131072)
def _tokens(identifier: str) -> tuple[str, ...]:
    parts = _split(identifier)
    whole = identifier.lower()
    if (len(parts) != 1 or parts[0] != whole) and whole.strip("_"):
        return (*parts, whole)
    return parts


def split_identifier(identifier: str) -> list[str]:
    """Lowercase sub-words of an identifier: "parseHTTPResponse_v2" -> ["parse", "http", "response", "v2"]."""
    return list(_split(identifier))


def token_string(identifiers: Iterable[str]) -> str:
    """Space-joined lowercase sub-words of each identifier followed by the whole identifier, each once.

    "parseHTTPResponse" contributes "parse http response parsehttpresponse", so a full-text search finds
    the chunk by any sub-word as well as by the whole name.
    """
    return " ".join(dict.fromkeys(chain.from_iterable(map(_tokens, identifiers))))


# An identifier in source text, for every language the project reads (``$`` for JavaScript): the one
# pattern retrieval uses to pick names out of code.
IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
