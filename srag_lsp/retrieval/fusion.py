"""Fuse the ranked lists of several sources into one: weighted reciprocal rank fusion, then de-duplication.

A chunk's fused score is the sum over sources of ``weight[source] / (rank_constant + rank)`` (rank from 1).
Chunks are the same when they have the same id, or come from the same path with overlapping line ranges
(an index chunk and the same definition found in an unsaved buffer): the better-scored one stays and
inherits the other's sources. A class summary and one of its methods overlap but are not the same (the
summary elides the bodies), so both may stay. Chunks the user already sees (the one the cursor
is in, and the lines of the current file that go into the prompt) are dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from srag_lsp.retrieval.types import ContextChunk

# How much one rank in each source is worth. The imports source ranks the names this file imports by what
# the cursor line expects; it is the strongest single signal for the next identifier (measured on real
# cross-file completions, see benchmarks/eval_retrieval.py), so it counts twice. Exact definitions of the
# names in play (members of known classes, same-file and unimported definitions) come next; full text is
# fuzzy; open buffers are fresh but broad.
DEFAULT_WEIGHTS: dict[str, float] = {
    "imports": 2.0,
    "symbol": 1.0,
    "buffers": 0.6,
    "vector": 0.4,
    "fts": 0.3,
}
RANK_CONSTANT = 5.0  # small: a handful of results per source, the top ranks should matter


@dataclasses.dataclass(slots=True)
class VisibleRange:
    """Lines of one file (1-based, inclusive) that the prompt already shows; chunks inside are dropped."""

    path: str
    start_line: int
    end_line: int
    cursor_line: int  # 1-based

    def hides(self, chunk: ContextChunk) -> bool:
        if chunk.path != self.path:
            return False
        if chunk.start_line <= self.cursor_line <= chunk.end_line:
            return True  # the chunk the cursor is in
        return self.start_line <= chunk.start_line and chunk.end_line <= self.end_line


_CONTAINER_KINDS = frozenset({"class", "struct", "interface", "impl", "enum"})


def duplicates(a: ContextChunk, b: ContextChunk) -> bool:
    """Same chunk, or the same lines of the same file; a class summary and one of its members are not."""
    if a.id and a.id == b.id:
        return True
    if not a.overlaps(b):
        return False
    return (a.kind in _CONTAINER_KINDS) == (b.kind in _CONTAINER_KINDS) or (
        a.qualified_name == b.qualified_name and bool(a.qualified_name)
    )


def fuse(
    ranked: Mapping[str, Sequence[ContextChunk]],
    *,
    weights: Mapping[str, float] | None = None,
    rank_constant: float = RANK_CONSTANT,
    visible: VisibleRange | None = None,
    limit: int | None = None,
) -> list[ContextChunk]:
    """One list, best first, from per-source ranked lists (each best first)."""
    weights = DEFAULT_WEIGHTS if weights is None else weights
    by_id: dict[str, ContextChunk] = {}
    scores: dict[str, float] = {}
    best_contribution: dict[str, float] = {}
    sources_of: dict[str, list[str]] = {}
    for source, chunks in ranked.items():
        weight = weights.get(source, 0.5)
        seen_here: set[str] = set()
        rank = 0
        for chunk in chunks:
            key = chunk.id or f"{chunk.path}:{chunk.start_line}-{chunk.end_line}"
            if key in seen_here:
                continue
            if visible is not None and visible.hides(chunk):
                continue
            seen_here.add(key)
            rank += 1
            contribution = weight / (rank_constant + rank)
            scores[key] = scores.get(key, 0.0) + contribution
            sources_of.setdefault(key, []).append(source)
            if contribution > best_contribution.get(key, -1.0):
                best_contribution[key] = contribution
                by_id[key] = dataclasses.replace(chunk, source=source)
    order = sorted(scores, key=lambda key: (-scores[key], by_id[key].path, by_id[key].start_line))
    kept: list[ContextChunk] = []
    kept_keys: list[str] = []
    for key in order:
        chunk = by_id[key]
        duplicate_of = next((i for i, other in enumerate(kept) if duplicates(other, chunk)), None)
        if duplicate_of is not None:
            other = kept[duplicate_of]
            merged = tuple(dict.fromkeys((*other.sources, *sources_of[key])))
            kept[duplicate_of] = dataclasses.replace(other, sources=merged)
            continue
        kept.append(
            dataclasses.replace(chunk, score=round(scores[key], 6), sources=tuple(dict.fromkeys(sources_of[key])))
        )
        kept_keys.append(key)
        if limit is not None and len(kept) >= limit:
            break
    return kept
