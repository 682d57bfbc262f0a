"""The ``fts`` source: BM25 over identifier sub-words, queried with the identifiers before the cursor."""

from __future__ import annotations

from collections.abc import Hashable

from indexer.identifiers import IDENTIFIER
from srag_lsp.retrieval.cursor import CursorAnalysis, noise_words
from srag_lsp.retrieval.sources.base import ReaderFn, chunk_from_hit, reader_ready
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

MAX_FTS_TERMS = 24


def fts_query(analysis: CursorAnalysis) -> str:
    """The identifiers of the lines before the cursor, nearest first, without keywords (at most 24)."""
    noise = noise_words(analysis.language)
    seen: dict[str, None] = {}
    for line in reversed(analysis.window_before.split("\n")):
        for word in reversed(IDENTIFIER.findall(line)):
            if len(word) > 1 and word not in noise and word not in seen:
                seen[word] = None
                if len(seen) >= MAX_FTS_TERMS:
                    return " ".join(seen)
    return " ".join(seen)


class FtsSource:
    """BM25 (LanceDB full-text search) over identifier sub-words, queried with the window before the cursor."""

    name = "fts"

    def __init__(self, reader_fn: ReaderFn) -> None:
        self._reader = reader_fn

    def available(self) -> bool:
        return reader_ready(self._reader)

    def cache_key(self, analysis: CursorAnalysis) -> Hashable:
        return fts_query(analysis) if self.needed(analysis) else ""

    @staticmethod
    def needed(analysis: CursorAnalysis) -> bool:
        """Full text is the fallback for code whose names the index cannot follow exactly. When the file
        imports workspace modules, the imports and symbol sources cover what the cursor needs: on the cross-file
        evaluation (eight Python packages) full text changed recall@5 by less than 0.01 either way, while its
        query is the costliest of a request (about 10 ms of CPU on the standard library's index)."""
        return not any(b.paths for b in analysis.imports)

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]:
        reader = self._reader()
        query = fts_query(analysis) if self.needed(analysis) else ""
        if reader is None or not query:
            return []
        return [chunk_from_hit(hit, self.name) for hit in reader.text_search(query, k=k)]
