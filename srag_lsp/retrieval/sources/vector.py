"""The ``vector`` source: chunks nearest in meaning to the lines before the cursor, when the index has vectors.

It needs an embedder (``indexer.embedding``: the local ONNX model or Ollama, set from the ``embeddings``
setting) and vectors of that embedder's model in the index. The query is the window before the cursor; the
embedder keeps its end. ``run`` blocks (about 10 ms to embed on one core, a few ms to search): the
retriever calls it in its thread pool, never on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable

from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.sources.base import Embedder, ReaderFn, chunk_from_hit
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

log = logging.getLogger(__name__)

QUERY_CHARS = 2000


class VectorSource:
    """Nearest chunks to the window's embedding; only when an embedder is set and the index has its vectors."""

    name = "vector"

    def __init__(self, reader_fn: ReaderFn, embed: Embedder | None) -> None:
        self._reader = reader_fn
        self._embed = embed

    @property
    def embedder(self) -> Embedder | None:
        return self._embed

    def set_embedder(self, embed: Embedder | None) -> None:
        self._embed = embed

    def available(self) -> bool:
        embed = self._embed
        if embed is None:
            return False
        reader = self._reader()
        if reader is None or not callable(getattr(reader, "vector_search", None)):
            return False
        has_vectors = getattr(reader, "has_vectors", None)
        try:
            return bool(has_vectors(embed.model_id)) if callable(has_vectors) else False
        except Exception as exc:
            log.debug("vector source unavailable: %s", exc)
            return False

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return analysis.window_before[-QUERY_CHARS:]

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]:
        reader = self._reader()
        embed = self._embed
        text = analysis.window_before[-QUERY_CHARS:]
        if reader is None or embed is None or not text.strip():
            return []
        vector = embed.embed_query(text)
        hits = reader.vector_search(vector, k=k, model_id=embed.model_id)
        return [chunk_from_hit(hit, self.name) for hit in hits]
