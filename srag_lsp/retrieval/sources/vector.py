"""The ``vector`` source: nearest chunks to the window's embedding, when the index has vectors."""

from __future__ import annotations

from collections.abc import Hashable

from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.sources.base import Embedder, ReaderFn, chunk_from_hit
from srag_lsp.retrieval.types import ContextChunk, CursorContext


class VectorSource:
    """Nearest chunks to the window's embedding; only when the index has vectors and an embedder is set."""

    name = "vector"

    def __init__(self, reader_fn: ReaderFn, embed: Embedder | None) -> None:
        self._reader = reader_fn
        self._embed = embed

    def available(self) -> bool:
        if self._embed is None:
            return False
        reader = self._reader()
        if reader is None or not callable(getattr(reader, "vector_search", None)):
            return False
        has_vectors = getattr(reader, "has_vectors", None)
        try:
            return bool(has_vectors() if callable(has_vectors) else has_vectors)
        except Exception:
            return False

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return analysis.window_before[-2000:]

    def run(self, analysis: CursorAnalysis, ctx: CursorContext, k: int) -> list[ContextChunk]:
        reader = self._reader()
        if reader is None or self._embed is None:
            return []
        vector = self._embed(analysis.window_before[-2000:])
        return [chunk_from_hit(hit, self.name) for hit in reader.vector_search(vector, k=k)]
