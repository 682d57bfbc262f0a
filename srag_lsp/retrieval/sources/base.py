"""What every retrieval source shares: the Source protocol, hits to chunks, ranking, and one shared query."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, Protocol

from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

ReaderFn = Callable[[], Any]  # returns an indexer.query.IndexReader, or None when there is no index
BufferProvider = Callable[[], Mapping[str, str]]


class Embedder(Protocol):
    """What the vector source needs of an embedder (``indexer.embedding`` has the real ones)."""

    model_id: str  # the vectors table to search

    def embed_query(self, text: str) -> list[float]: ...




class Source(Protocol):
    """A retrieval source: ``run`` is blocking (the retriever calls it in a thread)."""

    name: str

    def available(self) -> bool: ...

    def cache_key(self, analysis: CursorAnalysis) -> Hashable | None: ...

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]: ...


def reader_ready(reader_fn: ReaderFn) -> bool:
    return reader_fn() is not None


def chunk_from_hit(hit: Any, source: str, score: float | None = None) -> ContextChunk:
    """A ContextChunk from an ``indexer.query.Hit`` (or anything with the same attributes)."""
    return ContextChunk(
        path=hit.path,
        start_line=int(hit.start_line),
        end_line=int(hit.end_line),
        symbol=hit.symbol,
        kind=hit.kind,
        source=source,
        score=float(hit.score if score is None else score),
        text=hit.text,
        signature=hit.signature,
        id=hit.id,
        qualified_name=getattr(hit, "qualified_name", ""),
        language=getattr(hit, "language", "") or "",
        sources=(source,),
    )


def ranked(scored: Iterable[tuple[float, ContextChunk]], k: int) -> list[ContextChunk]:
    """The ``k`` best chunks by score (one per id), scores rounded into the chunks."""
    best: dict[str, tuple[float, ContextChunk]] = {}
    for score, chunk in scored:
        previous = best.get(chunk.id)
        if previous is None or score > previous[0]:
            best[chunk.id] = (score, chunk)
    order = sorted(best.values(), key=lambda sc: (-sc[0], sc[1].path, sc[1].start_line))
    out = []
    for score, chunk in order[:k]:
        chunk.score = round(score, 6)
        out.append(chunk)
    return out


class SharedSymbols:
    """One ``symbols()`` query per request for every source that needs exact names.

    LanceDB runs one query at a time in this process (its synchronous API goes through one background
    event loop), so the symbol and imports sources, though they run in parallel threads, are faster
    sharing one larger query than each making its own: a query costs about 5 ms plus 0.015 ms a row on the
    standard library's index. Sources ``plan`` their names before any runs; the first to ask runs the query
    for all of them. Names asked for without a plan get a query of their own.
    """

    def __init__(self, reader: Any) -> None:
        self._reader = reader
        self._names: dict[str, None] = {}
        self._rows = 0
        self._hits: list[Any] | None = None
        self._lock = threading.Lock()
        self.queries = 0

    def plan(self, names: Iterable[str], k: int) -> None:
        with self._lock:
            if self._hits is None:
                self._names.update(dict.fromkeys(n for n in names if n))
                self._rows = max(self._rows, k)

    def symbols(self, names: list[str], k: int) -> list[Any]:
        wanted = set(names)
        with self._lock:
            if self._hits is None:
                self._names.update(dict.fromkeys(n for n in names if n))
                planned = list(self._names)
                self._hits = self._reader.symbols(planned, k=len(planned) + min(k, self._rows or k)) if planned else []
                self.queries += 1
            hits = self._hits
            unplanned = [n for n in names if n and n not in self._names]
        if unplanned:
            with self._lock:
                self.queries += 1
            hits = [*hits, *self._reader.symbols(unplanned, k=len(unplanned) + k)]
        return [h for h in hits if h.symbol in wanted or h.qualified_name in wanted]


def exact_symbols(reader: Any, analysis: CursorAnalysis, names: list[str], k: int) -> list[Any]:
    """Exact-name hits through the request's shared query when there is one, else a query of its own."""
    shared = analysis.lookup
    if isinstance(shared, SharedSymbols):
        return shared.symbols(names, k)
    return reader.symbols(names, k=len(names) + k) if names else []
