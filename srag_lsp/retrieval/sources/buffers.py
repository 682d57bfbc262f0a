"""The ``buffers`` source: other open and recently edited buffers, chunked and searched in memory."""

from __future__ import annotations

import hashlib
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

from indexer.identifiers import IDENTIFIER
from srag_lsp.retrieval.cursor import CursorAnalysis
from srag_lsp.retrieval.sources.base import BufferProvider, ranked
from srag_lsp.retrieval.types import ContextChunk, CursorQuery

log = logging.getLogger(__name__)



class _BufferChunks:
    """Chunks of buffer texts, memoised by content (chunking a buffer is a parse: do it once per version)."""

    def __init__(self, max_entries: int = 64) -> None:
        self._entries: OrderedDict[tuple[str, str], list[Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries

    def chunks(self, path: str, text: str) -> list[Any]:
        digest = hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()
        key = (path, digest)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit
        try:
            from indexer.chunker import chunk_file

            chunks = chunk_file(path, text).chunks
        except Exception as exc:
            log.debug("cannot chunk buffer %s: %s", path, exc)
            chunks = []
        with self._lock:
            self._entries[key] = chunks
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return chunks


class BufferSource:
    """Other open and recently edited buffers, searched in memory: defined names first, then shared words."""

    name = "buffers"

    def __init__(self, provider: BufferProvider | None) -> None:
        self._provider = provider
        self._chunks = _BufferChunks()

    def available(self) -> bool:
        return self._provider is not None

    def cache_key(self, analysis: CursorAnalysis) -> Hashable | None:
        return None  # buffers change with every keystroke; searching them is cheap

    def run(self, analysis: CursorAnalysis, ctx: CursorQuery, k: int) -> list[ContextChunk]:
        if self._provider is None:
            return []
        try:
            buffers = dict(self._provider())
        except Exception as exc:
            log.warning("buffer provider failed: %s", exc)
            return []
        # The cursor's own buffer is the prompt itself; the rest of it is in the index (as an overlay while
        # unsaved). Chunking it here would re-parse it on every keystroke.
        buffers.pop(ctx.path, None)
        names = {n: i for i, n in enumerate(analysis.names)}
        members = {m: i for i, m in enumerate(analysis.members)}
        window_words = {w.lower() for w in IDENTIFIER.findall(analysis.window_before) if len(w) > 2}
        partial = analysis.partial if len(analysis.partial) >= 2 else ""
        scored: list[tuple[float, ContextChunk]] = []
        for path, text in buffers.items():
            if not isinstance(text, str) or "\x00" in text[:8192]:
                continue
            for chunk in self._chunks.chunks(path, text):
                score = 0.0
                if chunk.qualified_name in members:
                    score = 1.5 / (1 + 0.25 * members[chunk.qualified_name])
                if chunk.symbol in names:
                    score = max(score, 1.0 / (1 + 0.15 * names[chunk.symbol]))
                if partial and chunk.symbol.startswith(partial) and chunk.symbol != partial:
                    score = max(score, 0.9)
                if score == 0.0 and window_words:
                    words = {w.lower() for w in chunk.uses} | set(chunk.tokens.split())
                    shared = len(window_words & words)
                    if shared:
                        score = 0.3 * shared / math.sqrt(len(words) + 1)
                if score > 0:
                    scored.append((score, _chunk_from_model(chunk, self.name, score)))
        return ranked(scored, k)


def _chunk_from_model(chunk: Any, source: str, score: float) -> ContextChunk:
    return ContextChunk(
        path=chunk.path,
        start_line=chunk.start_line,
        end_line=chunk.end_line,
        symbol=chunk.symbol,
        kind=chunk.kind,
        source=source,
        score=score,
        text=chunk.text,
        signature=chunk.signature,
        id=chunk.id,
        qualified_name=chunk.qualified_name,
        language=chunk.language,
        sources=(source,),
    )
