"""Retrieval over two indexes: the team's shared index on object storage under the developer's local overlay.

:class:`LayeredReader` answers the same queries as :class:`indexer.query.IndexReader` (what the retrieval
sources call). Each query asks both; a shared row is dropped when its path is in the mask the worker writes
(:mod:`indexer.shared_view`: files changed, deleted or being edited locally) or when the local answer holds the
same path, so that for a path both hold, the local rows win. The shared handle sees a newly published version
within :data:`SHARED_CONSISTENCY_S`.

The shared rows are read from the worker's local copy of the shared table (:mod:`indexer.shared_mirror`) once it
is complete, and from object storage directly until then (a daemon's first minutes, or a new machine). While it
reads object storage and the storage fails, queries go on from the local overlay alone: the shared index is left
alone for :data:`RETRY_S`, then tried again, and the fault and the recovery are each said once (``on_change``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from indexer.object_store import explain, reader_options, scrub
from indexer.query import Hit, IndexReader, rank_by_score, rank_hits
from indexer.shared_mirror import mirror_root, mirrored_version
from indexer.shared_view import MASK_FILE, read_mask

log = logging.getLogger(__name__)

SHARED_CONSISTENCY_S = 30.0  # a version CI publishes is read within this (plus the handle's own renewal)
RETRY_S = 15.0  # after a storage fault, queries leave the shared index alone this long
MASK_CHECK_S = 0.25  # how often the mask file's modification time is looked at
MIRROR_CHECK_S = 2.0  # while reading S3 directly, how often to look whether the worker's local copy is complete

ChangeFn = Callable[[bool, str | None], None]  # (reachable, why not)


class LayeredReader:
    """The local overlay's reader over the shared index's; thread-safe; never raises."""

    def __init__(self, local_dir: str, uri: str, options: Mapping[str, str], *,
                 on_change: ChangeFn | None = None, consistency_s: float = SHARED_CONSISTENCY_S,
                 retry_s: float = RETRY_S) -> None:
        self.index_dir = local_dir
        self.uri = uri
        self.options = reader_options(options)
        self.consistency_s = consistency_s
        self.retry_s = retry_s
        self._on_change = on_change
        self._lock = threading.Lock()
        self._local: IndexReader | None = None
        self._local_tried_at = -1e9
        self._shared: IndexReader | None = None
        self._on_copy = False  # self._shared reads the local copy
        self._copy_checked_at = -1e9
        self._down_until = 0.0
        self.reachable: bool | None = None
        self.error: str | None = None
        self._mask: frozenset[str] = frozenset()
        self._mask_version = 0
        self._mask_mtime: float | None = None
        self._mask_checked_at = -1e9

    # -- the queries the retrieval sources make -------------------------------------------------------------
    def symbols(self, names: list[str], k: int = 10) -> list[Hit]:
        return self._both(lambda r: r.symbols(names, k), k, rank=True)

    def symbol_prefix(self, prefix: str, k: int = 20) -> list[Hit]:
        return self._both(lambda r: r.symbol_prefix(prefix, k), k, rank=True)

    def text_search(self, query: str, k: int = 10, *, field: str = "tokens") -> list[Hit]:
        return self._both(lambda r: r.text_search(query, k, field=field), k, rank=False)

    def by_path(self, path: str) -> list[Hit]:
        local = self._local_reader()
        hits = local.by_path(path) if local is not None else []
        if hits or path in self._masked():
            return hits
        return self._shared_call(lambda r: r.by_path(path))

    def vector_models(self) -> list[str]:
        models = set(self._shared_call_models())
        local = self._local_reader()
        if local is not None:
            models.update(local.vector_models())
        return sorted(models)

    def has_vectors(self, model_id: str | None = None) -> bool:
        models = self.vector_models()
        return bool(models) if model_id is None else model_id in models

    def refresh_vectors(self) -> None:
        for reader in (self._local_reader(), self._shared):
            if reader is not None:
                reader.refresh_vectors()

    def vector_search(self, vector: list[float], k: int = 10, *, model_id: str | None = None) -> list[Hit]:
        """Nearest chunks in both: the shared index's vectors (published by CI) and the overlay's own."""
        return self._both(lambda r: r.vector_search(vector, k, model_id=model_id), k, rank=False)

    def health(self) -> str | None:
        local = self._local_reader()
        return local.health() if local is not None else None

    def stats(self) -> dict[str, Any]:
        local = self._local_reader()
        out = local.stats() if local is not None else {"index_dir": self.index_dir}
        out["shared_index"] = self.describe()
        return out

    def describe(self) -> dict[str, Any]:
        """Which shared version this reader uses (the mask's), and whether the storage answers."""
        self._masked()
        return {"uri": self.uri, "version": self._mask_version, "masked_files": len(self._mask),
                "reads": "local copy" if self._on_copy else "object storage", "reachable": self.reachable,
                "error": self.error}

    def close(self) -> None:
        for reader in (self._local, self._shared):
            if reader is not None:
                reader.close()

    # -- plumbing -------------------------------------------------------------------------------------
    def _both(self, ask: Callable[[IndexReader], list[Hit]], k: int, *, rank: bool) -> list[Hit]:
        local = self._local_reader()
        local_hits = ask(local) if local is not None else []
        shared_hits = self._shared_call(ask)
        if not shared_hits:
            return local_hits[:k]
        hidden = self._masked() | {h.path for h in local_hits}
        hits = local_hits + [h for h in shared_hits if h.path not in hidden]
        return (rank_hits(hits) if rank else rank_by_score(hits))[:k]

    def _local_reader(self) -> IndexReader | None:
        if self._local is None and time.monotonic() - self._local_tried_at > 1.0:
            with self._lock:
                if self._local is None:
                    self._local_tried_at = time.monotonic()
                    if (Path(self.index_dir) / "chunks.lance").exists():
                        self._local = IndexReader.open(self.index_dir)
        return self._local

    def _shared_call(self, ask: Callable[[IndexReader], list[Hit]]) -> list[Hit]:
        copy = self._local_copy()
        if copy is not None:
            return ask(copy)
        if time.monotonic() < self._down_until:
            return []
        reader = self._shared_reader()
        if reader is None:
            return []
        hits = ask(reader)
        if reader.last_failure is not None:
            self._down(str(explain(self.uri, self.options, RuntimeError(reader.last_failure))))
            return []
        self._up()
        return hits

    def _shared_call_models(self) -> list[str]:
        """The shared index's vector models (from the local copy, or object storage while it answers)."""
        reader = self._local_copy()
        if reader is None and time.monotonic() >= self._down_until:
            reader = self._shared_reader()
        return reader.vector_models() if reader is not None else []

    def _local_copy(self) -> IndexReader | None:
        """The reader of the worker's complete local copy of the shared table, once there is one."""
        if self._on_copy:
            return self._shared
        now = time.monotonic()
        if now - self._copy_checked_at < MIRROR_CHECK_S:
            return None
        self._copy_checked_at = now
        if mirrored_version(self.index_dir) is None:
            return None
        copy = IndexReader.open(str(mirror_root(self.index_dir)))
        if copy is None:
            return None
        with self._lock:
            remote, self._shared, self._on_copy = self._shared, copy, True
        if remote is not None:
            remote.close()
        log.info("shared index: reading the local copy of %s", self.uri)
        return copy

    def _shared_reader(self) -> IndexReader | None:
        if self._shared is not None:
            return self._shared
        with self._lock:
            if self._shared is None and time.monotonic() >= self._down_until:
                try:
                    self._shared = IndexReader.open_remote(self.uri, self.options, self.consistency_s)
                except Exception as exc:
                    self._down(str(explain(self.uri, self.options, exc)))
            return self._shared

    def _down(self, message: str) -> None:
        message = scrub(message, self.options)
        self._down_until = time.monotonic() + self.retry_s
        was = self.reachable
        self.reachable, self.error = False, message
        if was is not False:
            log.warning("shared index: %s; retrieving from the local overlay until it answers", message)
            self._say(False, message)

    def _up(self) -> None:
        was = self.reachable
        self.reachable, self.error = True, None
        if was is False:
            log.info("shared index %s answers again", self.uri)
            self._say(True, None)

    def _say(self, reachable: bool, message: str | None) -> None:
        if self._on_change is not None:
            try:
                self._on_change(reachable, message)
            except Exception:
                log.debug("shared index change callback failed", exc_info=True)

    def _masked(self) -> frozenset[str]:
        """The worker's mask, re-read when its file changed (looked at every :data:`MASK_CHECK_S`)."""
        now = time.monotonic()
        if now - self._mask_checked_at < MASK_CHECK_S:
            return self._mask
        self._mask_checked_at = now
        try:
            mtime = (Path(self.index_dir) / MASK_FILE).stat().st_mtime_ns
        except OSError:
            return self._mask
        if mtime != self._mask_mtime:
            found = read_mask(self.index_dir)
            if found is not None:
                self._mask_version, self._mask = found
                self._mask_mtime = mtime
        return self._mask
