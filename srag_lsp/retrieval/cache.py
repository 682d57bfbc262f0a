"""A retrieval cache: each source's ranked chunks, keyed by file, enclosing scope and the names in play.

Each source has its own key (the names it actually looked up), so a keystroke that only changes the
partial identifier re-runs the prefix lookup and nothing else. An entry remembers every path it depends on
(the file, the chunks' paths, the files its imports resolve to); ``invalidate(paths)`` drops the entries
that touch a re-indexed path. A definition newly added to an unrelated file cannot be traced that way, so
entries also expire after ``ttl_s`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass

from srag_lsp.retrieval.types import ContextChunk

CacheKey = tuple[str, str, str, Hashable]  # (source, path, scope, what the source looked up)


@dataclass(slots=True)
class _Entry:
    chunks: list[ContextChunk]
    paths: frozenset[str]
    stored_at: float


class RetrievalCache:
    """LRU cache of per-source results; thread-safe."""

    def __init__(
        self, max_entries: int = 512, ttl_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[CacheKey, _Entry] = OrderedDict()
        self._max = max_entries
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(source: str, path: str, scope: str, looked_up: Hashable) -> CacheKey:
        return (source, path, scope, looked_up)

    def get(self, key: CacheKey) -> list[ContextChunk] | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or self._clock() - entry.stored_at > self._ttl:
                if entry is not None:
                    del self._entries[key]
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return list(entry.chunks)

    def put(self, key: CacheKey, chunks: list[ContextChunk], depends_on: Iterable[str] = ()) -> None:
        paths = frozenset({key[1], *(c.path for c in chunks), *depends_on})
        with self._lock:
            self._entries[key] = _Entry(list(chunks), paths, self._clock())
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def invalidate(self, paths: Iterable[str] | None = None) -> int:
        """Drop entries that depend on any of ``paths`` (all entries when None); returns how many."""
        with self._lock:
            if paths is None:
                dropped = len(self._entries)
                self._entries.clear()
                return dropped
            changed = frozenset(paths)
            stale = [key for key, entry in self._entries.items() if entry.paths & changed]
            for key in stale:
                del self._entries[key]
            return len(stale)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
