"""The index writer: one thread that builds, applies file and buffer changes, and compacts when idle.

:class:`IndexService` owns a workspace's table, manifest, builder and watcher, and is the only code that
writes the index (the worker process runs one; ``srag-index watch`` runs one in process). Requests only
queue work and return at once (:mod:`indexer.writer_requests`): file changes are coalesced into one set,
unsaved buffers into the newest text per path. Events (``progress``, ``indexed``, ``status``, ``error``) go
to the ``emit`` callback as protocol messages. :meth:`IndexService.status` answers from a snapshot, even in
the middle of a build.

With embeddings on, the same thread embeds chunks whose text has no vector yet, one small batch at a time
and only while no file or buffer work is waiting (:mod:`indexer.writer_embedding`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from indexer import protocol
from indexer.build_options import BuildOptions
from indexer.builder import IndexBuilder
from indexer.embedding import Embedder
from indexer.embedding.background import BACKOFF_S
from indexer.files import is_ignore_file
from indexer.location import ensure_index_dir, resolve_index_dir
from indexer.opening import open_index
from indexer.watcher import WorkspaceWatcher
from indexer.writer_embedding import WriterEmbedding
from indexer.writer_lock import LockHeld, WriterLock
from indexer.writer_requests import PendingBuffer, PendingWork, workspace_relative
from indexer.writer_shared import REFRESH_S, WriterShared
from indexer.writer_status import index_counts, initial_status

log = logging.getLogger(__name__)

EmitFn = Callable[[dict[str, Any]], None]


@dataclass(slots=True)
class ServiceTuning:
    watch: bool = True
    debounce_s: float = 0.08  # quiet period before a batch of file events is indexed
    max_debounce_s: float = 1.0
    overlay_quiet_s: float = 0.15  # an unsaved buffer is indexed once typing pauses this long...
    overlay_max_delay_s: float = 1.0  # ...or at the latest this long after its first pending change
    idle_optimize_s: float = 2.0  # compact once nothing has happened for this long
    optimize_every_writes: int = 60  # ...or after this many write batches, busy or not
    lock_retry_s: float = 5.0
    progress_interval_s: float = 0.1
    embed_backoff_s: tuple[float, ...] = BACKOFF_S  # pauses after failed embedding batches (growing)
    # pauses before the rescan that follows a failed write (a full disk, a broken folder), growing with each
    # failure in a row: without them the writer re-reads the whole workspace in a loop while the fault lasts
    failure_backoff_s: tuple[float, ...] = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
    shared_refresh_s: float = REFRESH_S  # how often a shared index's newest version is asked for


class IndexService:
    """The single writer for one workspace index."""

    def __init__(
        self,
        root: str | Path,
        index_dir: str | None = None,
        settings: dict[str, Any] | None = None,
        emit: EmitFn | None = None,
        tuning: ServiceTuning | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.root = Path(root).expanduser().resolve()
        self.index_dir = resolve_index_dir(self.root, index_dir or None)
        self.settings = dict(settings or {})
        self.options = BuildOptions.from_settings(self.settings)
        self.tuning = tuning or ServiceTuning()
        self._emit_fn = emit
        self._cond = threading.Condition()
        self._pending = PendingWork()  # guarded by _cond
        self._failures = 0  # failed units of work in a row
        self._retry_at = 0.0  # monotonic time before which a rescan after a failure waits
        self._stopping = False
        self._busy = False
        self._thread: threading.Thread | None = None
        self._builder: IndexBuilder | None = None
        self._watcher: WorkspaceWatcher | None = None
        self._lock: WriterLock | None = None
        self._overlays: dict[str, int] = {}  # paths whose rows come from an unsaved buffer -> its version
        self._writes_since_optimize = 0
        self._cleanup_at: float | None = None  # a version cleanup once the last compaction's versions age
        self._last_activity = time.monotonic()
        self._last_progress_at = 0.0
        self._started_at = time.time()
        embeddings = str(self.settings.get("embeddings") or ("on" if embedder is not None else "off"))
        self._status = initial_status(self.root, self.index_dir, embeddings)
        self._idle = threading.Event()
        self._embedding = WriterEmbedding(
            self.settings,
            embedder,
            self.index_dir,
            cleanup_age=self.options.cleanup_age,
            backoff_s=self.tuning.embed_backoff_s,
            store=self._store,
            emit=self._emit,
            update_status=self._update_status,
        )
        self._shared = WriterShared(self.settings, self.index_dir, emit_status=self._emit_status,
                                    refresh_s=self.tuning.shared_refresh_s)

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="srag-index-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the current write, save the manifest, stop watching and release the lock."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._builder is not None:
            self._builder.stop_event.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the index writer did not stop within %.0fs", timeout)
            self._thread = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the initial build is done and no work is pending (for the CLI and tests)."""
        return self._idle.wait(timeout)

    # -- requests (never block on indexing) ---------------------------------------------------------------
    def file_changed(self, paths: Iterable[str]) -> None:
        rels = [r for r in (workspace_relative(self.root, p) for p in paths) if r]
        if not rels:
            return
        self.file_changed_relative(set(rels))

    def file_changed_relative(self, rels: set[str]) -> None:
        with self._cond:
            self._pending.paths.update(rels)
            self._idle.clear()
            self._cond.notify_all()

    def buffer_changed(self, path: str, text: str, version: int = 0) -> None:
        rel = workspace_relative(self.root, path)
        if rel is None:
            log.debug("ignoring a buffer outside the workspace: %s", path)
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending.add_buffer(rel, text, version, now):
                return  # an older version arriving late
            self._idle.clear()
            self._cond.notify_all()

    def buffer_closed(self, path: str) -> None:
        """The buffer is gone (closed, or saved): the file on disk is the truth again."""
        rel = workspace_relative(self.root, path)
        if rel is None:
            return
        now = time.monotonic()
        with self._cond:
            self._pending.close_buffer(rel, now)
            self._idle.clear()
            self._cond.notify_all()

    buffer_saved = buffer_closed

    def rescan(self) -> None:
        with self._cond:
            self._pending.rescan = True
            self._idle.clear()
            self._cond.notify_all()

    def status(self) -> dict[str, Any]:
        """A snapshot of the index state; cheap, never waits for a build."""
        with self._cond:
            snapshot = dict(self._status)
            snapshot["pending"] = self._pending.count() + int(self._busy)
        snapshot.update(self._embedding.status())
        snapshot.update(self._shared.status())
        snapshot["uptime_s"] = round(time.time() - self._started_at, 1)
        return snapshot

    # -- the writer thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if not self._acquire():
                return
            self._open()
            if self.tuning.watch and not self._stopping:
                self._start_watcher()  # before the build: changes made while it runs are queued, not lost
            self._initial_build()
            self._loop()
        except Exception as exc:  # report, then leave: the client restarts the worker
            log.exception("the index writer failed")
            self._set_error(f"the index writer failed: {exc}")
        finally:
            self._shutdown()

    def _acquire(self) -> bool:
        """Take the writer lock, waiting (and saying so) while another process holds it."""
        folder = ensure_index_dir(self.index_dir)
        self._lock = WriterLock(folder)
        warned = False
        while not self._stopping:
            try:
                self._lock.acquire()
                self._update_status(writer=True)
                return True
            except LockHeld as exc:
                if not warned:
                    log.warning("%s; waiting for it to finish", exc)
                    self._set_error(str(exc))
                    self._update_status(phase="waiting for the index lock")
                    warned = True
                with self._cond:
                    self._cond.wait(self.tuning.lock_retry_s)
        return False

    def _open(self) -> IndexBuilder:
        opened = open_index(self.index_dir, cleanup_age=self.options.cleanup_age)
        if opened.rebuilt:
            self._emit({"type": protocol.ERROR, "message": f"rebuilding the index: {opened.rebuilt}", "fatal": False})
        builder = IndexBuilder(self.root, opened, self.options, on_indexed=self._on_indexed,
                               shared_hash=self._shared.hash_fn())
        builder.stop_event.clear()
        self._builder = builder
        self._embedding.opened()
        return builder

    def _store(self) -> Any:
        builder = self._builder
        assert builder is not None
        return builder.store

    def _initial_build(self) -> None:
        builder = self._builder
        assert builder is not None
        if self._shared.on:
            self._update_status(phase="reading the shared index")
            self._shared.refresh()
        self._update_status(phase="indexing")
        report = self._guarded(lambda: builder.build(self._on_progress, skip=set(self._overlays)))
        if self._shared.on:
            self._guarded(lambda: self._shared.reconcile(builder, set(self._overlays)), what="the shared overlay")
        self._refresh_counts()  # before the build is said done: a status that says done has its counts
        if report is not None and not report.interrupted:
            self._update_status(initial_build_done=True, last_build=report.as_dict())
        if report is not None and report.changed:  # the build compacted: drop its versions once they age
            self._cleanup_at = time.monotonic() + self.options.cleanup_age.total_seconds() + 0.5
        self._writes_since_optimize = 0
        self._update_status(phase="ready")
        self._emit_status()

    def _start_watcher(self) -> None:
        watcher = WorkspaceWatcher(
            self.root,
            self.file_changed_relative,
            is_ignored=self._is_ignored,
            quiet_s=self.tuning.debounce_s,
            max_delay_s=self.tuning.max_debounce_s,
        )
        try:
            watcher.start()
        except OSError as exc:
            log.warning("cannot watch %s (%s); changes will be picked up on the next rescan", self.root, exc)
            self._set_error(f"cannot watch the workspace: {exc}")
            return
        self._watcher = watcher
        self._update_status(watching=True)

    def _is_ignored(self, rel: str, is_dir: bool) -> bool:
        builder = self._builder
        return builder.rules.is_ignored(rel, is_dir) if builder is not None else False

    def _loop(self) -> None:
        pending = self._pending
        t = self.tuning
        while True:
            embed = False
            with self._cond:
                while not self._stopping:
                    retry_wait = self._retry_at - time.monotonic()
                    if (pending.rescan or pending.paths) and retry_wait <= 0:
                        break
                    wait = pending.buffer_wait(t.overlay_quiet_s, t.overlay_max_delay_s)
                    if wait is not None and wait <= 0:
                        break
                    optimize_wait = self._optimize_wait()
                    if optimize_wait is not None and optimize_wait <= 0:
                        break
                    cleanup_wait = None if self._cleanup_at is None else self._cleanup_at - time.monotonic()
                    if cleanup_wait is not None and cleanup_wait <= 0:
                        break
                    shared_wait = self._shared.wait(time.monotonic())
                    if shared_wait is not None and shared_wait <= 0:
                        break
                    embed_wait = None
                    if wait is None and optimize_wait is None:
                        self._idle.set()
                        embed_wait = self._embed_wait()  # embeddings only while indexing has nothing to do
                        if embed_wait is not None and embed_wait <= 0:
                            embed = True
                            break
                    if not (pending.rescan or pending.paths):
                        retry_wait = None
                    candidates = [
                        w for w in (wait, optimize_wait, cleanup_wait, embed_wait, retry_wait, shared_wait)
                        if w is not None
                    ]
                    self._cond.wait(min(candidates) if candidates else None)
                if self._stopping:
                    return
                rescan, pending.rescan = pending.rescan, False
                paths, pending.paths = pending.paths, set()
                buffers = pending.take_due_buffers(t.overlay_quiet_s, t.overlay_max_delay_s)
                embed = embed and not (rescan or paths or buffers)
                self._busy = not embed
            try:
                if embed:
                    self._embedding.step()
                else:
                    self._work(rescan, paths, buffers)
            finally:
                with self._cond:
                    self._busy = False

    def _embed_wait(self) -> float | None:
        """Seconds until the background embedder has work (0: now); None when it has none (or is off)."""
        if not self._status["initial_build_done"]:
            return None
        return self._embedding.wait(self._last_activity + self.tuning.idle_optimize_s, time.monotonic())

    def _work(self, rescan: bool, paths: set[str], buffers: dict[str, PendingBuffer]) -> None:
        builder = self._builder
        assert builder is not None
        did_something = bool(rescan or paths or buffers)
        overlays_before = set(self._overlays)
        for rel, pending in buffers.items():
            if pending.text is None:
                if self._overlays.pop(rel, None) is not None or rel not in builder.manifest.files:
                    self._guarded(lambda rel=rel: builder.reindex(rel))
                else:
                    paths.add(rel)
            elif not builder.indexable(rel):
                log.debug("not indexing the buffer of %s: ignored or not a source language", rel)
            else:
                chunks = self._guarded(lambda rel=rel, text=pending.text: builder.write_overlay(rel, text))
                if chunks is not None:
                    self._overlays[rel] = pending.version
        skip = set(self._overlays)
        shared_changed = False
        shared_wait = self._shared.wait(time.monotonic())
        if shared_wait is not None and shared_wait <= 0:
            shared_changed = self._shared.refresh()
        if rescan:
            report = self._guarded(lambda: builder.build(self._on_progress, skip=skip))
            if report is not None:
                self._update_status(last_build=report.as_dict(), initial_build_done=True)
            self._embedding.mark_all()
        elif paths:
            rules_changed = any(is_ignore_file(p) for p in paths)
            self._guarded(lambda: builder.update(paths, skip=skip, progress=self._on_progress))
            if rules_changed and self._watcher is not None:  # newly ignored or unignored folders
                self._watcher.stop()
                self._start_watcher()
        if shared_changed:
            self._guarded(lambda: self._shared.reconcile(builder, skip), what="the shared overlay")
        elif self._shared.on and (rescan or paths or set(self._overlays) != overlays_before):
            # (a buffer typed into again changes no file's standing: the mask, O(files), is left as it is)
            self._guarded(lambda: self._shared.write_mask(builder, skip), what="the shared mask")
        did_something = did_something or shared_changed
        optimize_wait = self._optimize_wait()
        if optimize_wait is not None and optimize_wait <= 0:
            self._optimize()
        elif self._cleanup_at is not None and self._cleanup_at <= time.monotonic() and not did_something:
            self._cleanup_at = None
            self._guarded(builder.store.cleanup, what="version cleanup")
            self._refresh_counts()
        if did_something:
            self._last_activity = time.monotonic()
            builder.save_manifest(force=False)
            self._refresh_counts()

    def _optimize(self) -> None:
        builder = self._builder
        assert builder is not None
        started = time.perf_counter()
        self._update_status(phase="compacting")
        self._guarded(builder.finish_writes, what="compaction")
        self._writes_since_optimize = 0  # after a failure too: retrying at once would only fail again
        # the versions this compaction replaced are dropped once they are older than the cleanup age
        self._cleanup_at = time.monotonic() + self.options.cleanup_age.total_seconds() + 0.5
        builder.save_manifest()
        self._refresh_counts()
        self._update_status(phase="ready")
        log.debug("compaction took %.0f ms", (time.perf_counter() - started) * 1000)

    def _shutdown(self) -> None:
        self._shared.stop()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        self._embedding.flush()  # vectors made but not yet written
        if self._builder is not None:
            try:
                self._builder.save_manifest()
            except Exception:
                log.exception("saving the manifest at shutdown failed")
        if self._lock is not None:
            self._lock.release()
        self._update_status(phase="stopped", watching=False, writer=False)
        self._idle.set()

    # -- helpers ----------------------------------------------------------------------------------------
    def _optimize_wait(self) -> float | None:
        if self._writes_since_optimize <= 0:
            return None
        if self._writes_since_optimize >= self.tuning.optimize_every_writes:
            return 0.0
        return self._last_activity + self.tuning.idle_optimize_s - time.monotonic()

    def _guarded(self, action: Callable[[], Any], what: str = "indexing") -> Any:
        """Run one unit of work; log and record a failure, and reopen (or rebuild) a table that broke."""
        try:
            result = action()
        except Exception as exc:  # the writer keeps serving after a failure
            backoff = self.tuning.failure_backoff_s
            pause = backoff[min(self._failures, len(backoff) - 1)] if backoff else 0.0
            self._failures += 1
            self._retry_at = time.monotonic() + pause
            if self._failures == 1:
                log.exception("%s failed", what)
            else:  # the same fault again: one line, not another traceback
                log.warning("%s failed again (%d in a row): %s", what, self._failures, exc)
            self._set_error(f"{what} failed: {exc} (retrying in {pause:.0f}s)")
            self._recover()
            return None
        self._failures = 0
        return result

    def _recover(self) -> None:
        """After a failed write: reopen the index (rebuilding it when damaged) and rescan the workspace."""
        try:
            old = self._builder
            builder = self._open()
            if old is not None:
                builder.rules = old.rules
            with self._cond:
                self._pending.rescan = True
        except Exception:
            log.exception("reopening the index failed")

    def _on_indexed(self, paths: list[str], chunks: int) -> None:
        self._writes_since_optimize += 1
        self._embedding.note_paths(paths)
        self._emit({"type": protocol.INDEXED, "paths": list(paths), "chunks": int(chunks)})

    def _on_progress(self, done: int, total: int, phase: str) -> None:
        now = time.monotonic()
        if phase == "index" and 0 < done < total and now - self._last_progress_at < self.tuning.progress_interval_s:
            return
        self._last_progress_at = now
        self._emit({"type": protocol.PROGRESS, "done": int(done), "total": int(total), "phase": phase})

    def _refresh_counts(self) -> None:
        builder = self._builder
        if builder is None:
            return
        try:
            self._update_status(**index_counts(builder, len(self._overlays)))
        except Exception as exc:
            log.warning("cannot read index statistics: %s", exc)

    def _update_status(self, **fields: Any) -> None:
        with self._cond:
            self._status.update(fields)

    def _set_error(self, message: str) -> None:
        self._update_status(last_error=message)
        self._emit({"type": protocol.ERROR, "message": message})

    def _emit_status(self) -> None:
        self._emit({"type": protocol.STATUS, **self.status()})

    def _emit(self, message: dict[str, Any]) -> None:
        if self._emit_fn is None:
            return
        try:
            self._emit_fn(message)
        except Exception:  # a dead pipe is noticed by the reader; keep indexing
            log.debug("emit failed", exc_info=True)
