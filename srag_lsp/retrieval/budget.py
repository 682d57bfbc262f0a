"""Fit fused chunks into a token budget, shortening bodies to signatures (or class outlines) when it is tight.

Tokens are approximated as characters / 3.5 unless a tokenizer (a callable returning a token count) is given.
In rank order, each chunk goes in whole when its body costs at most ``FULL_SHARE`` of the budget still left,
otherwise in its compact form (the signature; for a class, its header and its members' headers), otherwise
not at all. So the best small definitions come whole, large ones as signatures, and the tail still fits.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence

from indexer.languages import LANGUAGES
from srag_lsp.retrieval.types import ContextChunk

CHARS_PER_TOKEN = 3.5
FULL_SHARE = 0.5  # a whole body may take at most this share of the budget that is left
HEADER_TOKENS = 4  # the path line the prompt writes before each snippet, beyond the path itself

Tokenizer = Callable[[str], int]

_CLASS_KINDS = frozenset({"class", "struct", "interface", "impl", "enum", "type"})
_MAX_OUTLINE_MEMBERS = 40


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def compact_text(chunk: ContextChunk) -> str:
    """The chunk's short form: its signature; for a class, the header and its members' header lines."""
    signature = chunk.signature.strip("\n") or _first_line(chunk.text)
    if chunk.kind in _CLASS_KINDS:
        spec = LANGUAGES.get(chunk.language)
        pattern = spec.member_header if spec is not None else None
        if pattern is not None:
            members = []
            for line in chunk.text.splitlines()[1:]:
                if pattern.match(line):
                    members.append(line.rstrip().rstrip("{").rstrip())
                    if len(members) >= _MAX_OUTLINE_MEMBERS:
                        break
            if members:
                return "\n".join([signature, *members])
    if chunk.language == "python" and signature.rstrip().endswith(":"):
        return signature + "\n" + " " * (_indent(signature) + 4) + "..."
    return signature


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def fit_budget(
    chunks: Sequence[ContextChunk],
    budget_tokens: int,
    *,
    tokenizer: Tokenizer | None = None,
    max_chunks: int | None = None,
) -> list[ContextChunk]:
    """The chunks (in their given order) that fit ``budget_tokens``, some shortened to signatures."""
    count = tokenizer or approx_tokens
    left = budget_tokens
    out: list[ContextChunk] = []
    for chunk in chunks:
        if max_chunks is not None and len(out) >= max_chunks:
            break
        if left <= 0:
            break
        overhead = count(chunk.path) + HEADER_TOKENS
        full_cost = count(chunk.text) + overhead
        if full_cost <= left * FULL_SHARE:
            out.append(chunk)
            left -= full_cost
            continue
        short = compact_text(chunk)
        if len(short) >= len(chunk.text):
            short_cost = full_cost
            short = chunk.text
        else:
            short_cost = count(short) + overhead
        if short_cost <= left:
            out.append(dataclasses.replace(chunk, text=short, compact=short != chunk.text))
            left -= short_cost
    return out


def total_tokens(chunks: Sequence[ContextChunk], tokenizer: Tokenizer | None = None) -> int:
    count = tokenizer or approx_tokens
    return sum(count(c.text) + count(c.path) + HEADER_TOKENS for c in chunks)
