"""File watching for the index: watchdog events, filtered, debounced and coalesced into batches of paths.

Events under ignored trees (``.git``, ``node_modules``, gitignored folders) are dropped with one rule lookup;
on Linux those folders are not even watched (an inotify watch group that prunes them, falling back to a
plain recursive observer if watchdog's internals differ). An editor's atomic save (a temporary file moved
onto the target) reports the target; deletes and renames report the old path, so its rows are removed.
Events are collected per path until the tree has been quiet for ``quiet_s`` (or ``max_delay_s`` has passed
since the first one), then handed over as one batch: a branch switch becomes one batch, not thousands.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

log = logging.getLogger(__name__)

IgnoreFn = Callable[[str, bool], bool]  # (workspace-relative path, is_dir) -> ignored
BatchFn = Callable[[set[str]], None]

ALWAYS_IGNORED_DIRS = frozenset({".git", ".hg", ".svn", "node_modules", "__pycache__"})
_IRRELEVANT = frozenset({"opened", "closed_no_write"})


class WorkspaceWatcher:
    """Watches ``root`` and calls ``on_batch(paths)`` (workspace-relative, files or folders) after a quiet period."""

    def __init__(
        self,
        root: Path,
        on_batch: BatchFn,
        *,
        is_ignored: IgnoreFn,
        quiet_s: float = 0.1,
        max_delay_s: float = 1.0,
    ) -> None:
        self.root = Path(root).resolve()
        self._root_str = str(self.root)
        self._on_batch = on_batch
        self._is_ignored = is_ignored
        self.quiet_s = quiet_s
        self.max_delay_s = max_delay_s
        self._cond = threading.Condition()
        self._pending: set[str] = set()
        self._first_at = 0.0
        self._last_at = 0.0
        self._stopping = False
        self._observer: Any = None
        self._thread: threading.Thread | None = None
        self.pruning = False  # True when ignored folders are left unwatched
        self.events_seen = 0
        self.events_dropped = 0

    def start(self) -> None:
        handler = _Handler(self)
        observer = None
        try:
            observer = _pruning_observer(self)
            observer.schedule(handler, self._root_str, recursive=True)
            observer.start()
            self.pruning = True
        except Exception as exc:  # watchdog internals changed: watch everything, filter events
            log.info("watching every folder (pruning unavailable: %s)", exc)
            if observer is not None:
                _stop_observer(observer)
            observer = Observer()
            observer.schedule(handler, self._root_str, recursive=True)
            observer.start()
            self.pruning = False
        self._observer = observer
        self._thread = threading.Thread(target=self._debounce_loop, name="srag-index-debounce", daemon=True)
        self._thread.start()
        log.debug("watching %s", self.root)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._observer is not None:
            _stop_observer(self._observer)
            self._observer = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    # -- event intake -----------------------------------------------------------------------------------
    def relative(self, absolute: str) -> str | None:
        if absolute == self._root_str:
            return None
        if not absolute.startswith(self._root_str + os.sep):
            return None
        rel = absolute[len(self._root_str) + 1 :]
        return rel.replace(os.sep, "/") if os.sep != "/" else rel

    def ignored(self, rel: str, is_dir: bool) -> bool:
        parts = rel.split("/")
        if any(part in ALWAYS_IGNORED_DIRS for part in (parts if is_dir else parts[:-1])):
            return True
        try:
            return self._is_ignored(rel, is_dir)
        except Exception:  # a rule problem must not kill the observer thread
            log.debug("ignore check failed for %s", rel, exc_info=True)
            return False

    def add(self, event: FileSystemEvent) -> None:
        if event.event_type in _IRRELEVANT or (event.is_directory and event.event_type == "modified"):
            return
        self.events_seen += 1
        sources = [event.src_path]
        dest = getattr(event, "dest_path", "")
        if dest:
            sources.append(dest)
        accepted = []
        for raw in sources:
            absolute = os.fsdecode(raw)
            rel = self.relative(absolute)
            if rel is None or self.ignored(rel, event.is_directory):
                continue
            accepted.append(rel)
        if not accepted:
            self.events_dropped += 1
            return
        now = time.monotonic()
        with self._cond:
            if not self._pending:
                self._first_at = now
            self._pending.update(accepted)
            self._last_at = now
            self._cond.notify_all()

    # -- debounce -------------------------------------------------------------------------------------
    def _debounce_loop(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                while not self._stopping:
                    now = time.monotonic()
                    wait = min(self._last_at + self.quiet_s - now, self._first_at + self.max_delay_s - now)
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._stopping:
                    return
                batch, self._pending = self._pending, set()
            try:
                self._on_batch(batch)
            except Exception:  # the receiver's problem must not stop watching
                log.exception("the watcher's batch handler failed")


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: WorkspaceWatcher) -> None:
        super().__init__()
        self._watcher = watcher

    def dispatch(self, event: FileSystemEvent) -> None:
        self._watcher.add(event)


def _stop_observer(observer: Any) -> None:
    try:
        observer.stop()
        observer.join(timeout=5)
    except Exception:
        log.debug("stopping the observer failed", exc_info=True)


def _pruning_observer(watcher: WorkspaceWatcher) -> Any:
    """An inotify observer whose recursive watches skip ignored folders (Linux, watchdog 7.x internals)."""
    from watchdog.observers.inotify import InotifyEmitter, InotifyObserver, InotifyWatchGroup

    def skip(path: bytes) -> bool:
        rel = watcher.relative(os.fsdecode(path))
        return rel is not None and watcher.ignored(rel, True)

    class PruningWatchGroup(InotifyWatchGroup):
        def _add_all_callbacks(self, path: bytes) -> None:  # type: ignore[override]
            if skip(path):
                return
            is_dir = os.path.isdir(path)
            self._add_callback(path)
            if not (is_dir and self.is_recursive):
                return
            for top, dirnames, _ in os.walk(path, followlinks=self.follow_symlink):
                kept = []
                for name in dirnames:
                    full = os.path.join(top, name)
                    if skip(full) or (not self.follow_symlink and os.path.islink(full)):
                        continue
                    kept.append(name)
                    self._add_callback(full)
                dirnames[:] = kept

    class PruningEmitter(InotifyEmitter):
        def on_thread_start(self) -> None:
            self._inotify = PruningWatchGroup(
                self._inotify_fd,
                os.fsencode(self.watch.path),
                is_recursive=self.watch.is_recursive,
                event_mask=self.get_event_mask_from_filter(),
                follow_symlink=self.watch.follow_symlink,
            )

    observer = InotifyObserver()
    if not hasattr(observer, "_emitter_class"):
        raise RuntimeError("unexpected watchdog observer layout")
    observer._emitter_class = PruningEmitter
    return observer
