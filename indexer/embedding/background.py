"""Background embedding, keyed by content hash: the chunks whose text has no vector yet, a small batch at a time.

The index writer owns one :class:`BackgroundEmbedder`. It learns which chunks changed from the writer
(``note_paths`` after each write, ``mark_all`` after a build), compares their content hashes with the hashes
the model's vectors table already has, and queues only the new ones, recently changed code first. The
writer calls :meth:`BackgroundEmbedder.step` only when it has no file or buffer work, so each call embeds one
batch (about a second at most) and returns: file events always come first. Vectors are buffered and written
in a few hundred rows at a time (each write is a table version).

At idle (:meth:`BackgroundEmbedder.maintain`): compaction, the IVF index once the table is big enough
(:mod:`indexer.vectors`), and pruning of vectors no chunk uses once they outnumber the chunks' distinct
texts two to one (so a revert or a branch switch back usually finds its vectors still there).

Nothing here raises: a failed batch (a dead Ollama, a missing model) is recorded in :meth:`status`, logged
once per distinct message, put back in the queue, and retried after a growing pause. Indexing goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from indexer.embedding.base import Embedder, EmbeddingError
from indexer.store import ChunkStore
from indexer.vectors import IVF_MIN_ROWS, IVF_REBUILD_GROWTH, VectorStore

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]
BACKOFF_S = (5.0, 15.0, 60.0, 300.0)
PRUNE_RATIO = 2.0
PRUNE_MIN_ROWS = 1000


class BackgroundEmbedder:
    """The queue of content hashes to embed for one model, and the upkeep of its vectors table."""

    def __init__(
        self,
        embedder: Embedder,
        store_fn: Callable[[], ChunkStore],
        vectors: VectorStore,
        *,
        batch_size: int | None = None,
        write_rows: int = 256,
        write_interval_s: float = 5.0,
        backoff_s: Sequence[float] = BACKOFF_S,
        optimize_every_writes: int = 20,
        prune_min_rows: int = PRUNE_MIN_ROWS,
    ) -> None:
        self.embedder = embedder
        self.vectors = vectors
        self.batch_size = max(1, batch_size or getattr(embedder, "batch_size", 16))
        self.write_rows = max(1, write_rows)
        self.write_interval_s = write_interval_s
        self.backoff_s = tuple(backoff_s) or BACKOFF_S
        self.optimize_every_writes = optimize_every_writes
        self.prune_min_rows = prune_min_rows
        self._store_fn = store_fn
        self._lock = threading.Lock()  # status() may be called from any thread
        self._known: set[str] | None = None  # hashes with a vector (loaded at the first refresh)
        self._chunk_hashes: set[str] = set()  # distinct hashes of the chunk rows (exact after a full scan)
        self._covered = 0  # how many of them have a vector
        self._pending: OrderedDict[str, None] = OrderedDict()  # to embed, first = next
        self._full_dirty = True
        self._dirty_paths: set[str] = set()
        self._stale = False  # rows changed since the last full scan (the counts may include removed chunks)
        self._buffer: list[tuple[str, list[float]]] = []
        self._buffer_since = 0.0
        self._failures = 0
        self._retry_at: float | None = None
        self.error: str | None = None
        self.embedded = 0  # vectors made by this process
        self.reused = 0  # chunks of changed files whose text already had a vector (not embedded again)
        self.seconds = 0.0  # time spent in the embedder
        self.last_maintenance: str | None = None
        self._table_rows = vectors.count_rows()
        self._index_rows = vectors.index_rows()

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    # -- what changed (called by the writer) ----------------------------------------------------------
    def note_paths(self, paths: Iterable[str]) -> None:
        with self._lock:
            self._dirty_paths.update(paths)

    def mark_all(self) -> None:
        with self._lock:
            self._full_dirty = True

    # -- scheduling -------------------------------------------------------------------------------------
    def has_work(self) -> bool:
        with self._lock:
            return bool(self._full_dirty or self._dirty_paths or self._pending or self._buffer)

    def wait_s(self) -> float | None:
        """Seconds until :meth:`step` has something to do (0: now); None when there is nothing to embed."""
        if not self.has_work():
            return None
        if self._retry_at is None:
            return 0.0
        return max(0.0, self._retry_at - time.monotonic())

    def maintenance_due(self) -> bool:
        """Compaction or an index build is worth doing now (never while backing off after a failure)."""
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            return False
        with self._lock:
            idle = not self._pending and not self._buffer and not self._dirty_paths and not self._full_dirty
        if self.vectors.writes_since_optimize >= self.optimize_every_writes:
            return True
        return idle and (self.vectors.writes_since_optimize > 0 or self._index_due())

    # -- work ---------------------------------------------------------------------------------------------
    def work(self) -> None:
        """One unit of work for the writer's loop: the upkeep when it is due (compaction every few writes, even
        in the middle of a backlog), otherwise one batch."""
        urgent = self.vectors.writes_since_optimize >= self.optimize_every_writes
        if self.maintenance_due() and (urgent or self.wait_s() != 0):
            self.maintain()
        elif self.wait_s() == 0:
            self.step()

    def step(self) -> int:
        """Learn what changed, embed one batch, write when enough is buffered; return vectors made."""
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            return 0
        try:
            self._refresh()
            made = self._embed_batch()
            if self._buffer and (
                len(self._buffer) >= self.write_rows
                or not self._pending
                or time.monotonic() - self._buffer_since >= self.write_interval_s
            ):
                self.flush()
            return made
        except Exception as exc:  # never take the writer down
            self._failed(exc)
            return 0

    def flush(self) -> None:
        """Write the buffered vectors (one table version)."""
        if not self._buffer:
            return
        rows, self._buffer = self._buffer, []
        try:
            self.vectors.add([h for h, _ in rows], [v for _, v in rows])
        except Exception:
            self._buffer = rows + self._buffer
            raise
        self._table_rows += len(rows)

    def maintain(self) -> list[str]:
        """At idle: write what is buffered, recount, prune unused vectors, build the index, compact."""
        done: list[str] = []
        try:
            self.flush()
            if self._stale and not self._pending:
                self._full_dirty = True
                self._refresh()
            pruned = self._prune()
            if pruned:
                done.append(f"pruned {pruned} unused vectors")
            built = self.vectors.ensure_index()
            if built:
                done.append(built)
            if self.vectors.writes_since_optimize or built:
                self.vectors.optimize()
            self._table_rows = self.vectors.count_rows()
            self._index_rows = self.vectors.index_rows()
        except Exception as exc:
            self._failed(exc, what="vector upkeep")
        if done:
            self.last_maintenance = "; ".join(done)
            log.info("%s: %s", self.model_id, self.last_maintenance)
        return done

    def run_until_done(
        self,
        progress: ProgressFn | None = None,
        stop: threading.Event | None = None,
        max_failures: int = 3,
        limit: int | None = None,
    ) -> bool:
        """Embed everything pending (for ``srag-index build``; ``limit``: at most that many, for benchmarks);
        True when nothing is left."""
        self._refresh_guarded()
        total = len(self._pending) if limit is None else min(limit, len(self._pending))
        _call(progress, 0, total, "embed")
        while self.has_work() and not (stop is not None and stop.is_set()):
            if self._failures >= max_failures or (limit is not None and self.embedded >= limit):
                break
            wait = self.wait_s()
            if wait:
                if stop is not None:
                    stop.wait(wait)
                else:
                    time.sleep(wait)
                continue
            self.step()
            with self._lock:
                if limit is None:
                    total = max(total, self.embedded + len(self._pending))
                left = len(self._pending) if limit is None else max(0, total - self.embedded)
            _call(progress, total - left, total, "embed")
        try:
            self.flush()
        except Exception as exc:
            self._failed(exc)
        self.maintain()
        _call(progress, min(total, self.embedded) if limit is not None else total - len(self._pending), total, "done")
        return not self.has_work()

    def status(self) -> dict[str, Any]:
        """Counts for the index status (no table reads: safe and cheap from any thread)."""
        with self._lock:
            return {
                "embedding_model": self.model_id,
                "embedded": self._covered,
                "embeddings_pending": len(self._pending),
                "embeddings_made": self.embedded,
                "embeddings_reused": self.reused,
                "embedding_error": self.error,
                "vectors": self._table_rows,
                "vector_index_rows": self._index_rows,
                "chunks_per_s": round(self.embedded / self.seconds, 1) if self.seconds > 0 else None,
            }

    # -- internals ------------------------------------------------------------------------------------
    def _refresh_guarded(self) -> None:
        try:
            self._refresh()
        except Exception as exc:
            self._failed(exc)

    def _refresh(self) -> None:
        """Bring the queue in line with the chunk table: a full scan, or the rows of the paths that changed."""
        with self._lock:
            full, self._full_dirty = self._full_dirty, False
            paths, self._dirty_paths = self._dirty_paths, set()
        if not full and not paths:
            return
        try:
            if self._known is None:
                self._known = self.vectors.hashes()
            store = self._store_fn()
            rows = store.hashes(None if full else paths)
        except Exception:
            with self._lock:
                self._full_dirty = self._full_dirty or full
                self._dirty_paths |= paths
            raise
        known = self._known
        with self._lock:
            if full:
                hashes = {h for h, _ in rows}
                self._chunk_hashes = hashes
                self._covered = len(hashes & known)
                self._pending = OrderedDict((h, None) for h, _ in rows if h not in known)
                self._stale = False
                return
            fresh: list[str] = []
            for h in dict.fromkeys(h for h, _path in rows):
                if h in known:
                    self.reused += 1  # a changed file's chunk whose text already has a vector
                if h in self._chunk_hashes:
                    continue
                self._chunk_hashes.add(h)
                if h in known:
                    self._covered += 1
                else:
                    fresh.append(h)
            for h in reversed(fresh):  # recently changed code first
                self._pending[h] = None
                self._pending.move_to_end(h, last=False)
            self._stale = True

    def _embed_batch(self) -> int:
        with self._lock:
            batch = list(self._pending)[: self.batch_size]
        if not batch:
            return 0
        texts = self._store_fn().texts(batch)
        present = [h for h in batch if h in texts]
        started = time.perf_counter()
        try:
            vectors = self.embedder.embed([texts[h] for h in present]) if present else []
        except Exception as exc:
            if isinstance(exc, EmbeddingError):
                raise
            raise EmbeddingError(f"{self.model_id} failed: {exc}") from exc
        self.seconds += time.perf_counter() - started
        if len(vectors) != len(present):
            raise EmbeddingError(f"{self.model_id} returned {len(vectors)} vectors for {len(present)} texts")
        known = self._known if self._known is not None else set()
        with self._lock:
            for h in batch:
                self._pending.pop(h, None)
            for h in batch:
                if h not in texts:  # no chunk has this text any more
                    self._chunk_hashes.discard(h)
            if not self._buffer:
                self._buffer_since = time.monotonic()
            for h, vector in zip(present, vectors, strict=True):
                self._buffer.append((h, vector))
                known.add(h)
            self._covered += len(present)
            self.embedded += len(present)
        self._known = known
        self._succeeded()
        return len(present)

    def _prune(self) -> int:
        rows = self.vectors.count_rows()
        if rows < self.prune_min_rows or rows <= PRUNE_RATIO * max(1, len(self._chunk_hashes)) or self._stale:
            return 0
        known = self._known if self._known is not None else self.vectors.hashes()
        unused = known - self._chunk_hashes
        removed = self.vectors.delete_hashes(unused)
        self._known = known - unused
        return removed

    def _index_due(self) -> bool:
        rows, built_on = self._table_rows, self._index_rows
        return rows >= IVF_MIN_ROWS and (built_on is None or rows >= built_on * IVF_REBUILD_GROWTH)

    def _failed(self, exc: BaseException, what: str = "embedding") -> None:
        message = f"{what} failed: {exc}" if not isinstance(exc, EmbeddingError) else str(exc)
        if message != self.error:
            if isinstance(exc, EmbeddingError):
                log.warning("%s (indexing goes on without new vectors)", message)
            else:
                log.exception("%s", message)
        self.error = message
        delay = self.backoff_s[min(self._failures, len(self.backoff_s) - 1)]
        self._failures += 1
        self._retry_at = time.monotonic() + delay

    def _succeeded(self) -> None:
        if self.error is not None:
            log.info("%s: embedding works again", self.model_id)
        self.error = None
        self._failures = 0
        self._retry_at = None


def _call(progress: ProgressFn | None, done: int, total: int, phase: str) -> None:
    if progress is None:
        return
    try:
        progress(done, total, phase)
    except Exception:
        log.debug("progress callback failed", exc_info=True)
