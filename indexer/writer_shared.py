"""The index writer's part in a shared index: reading its version now and then, reconciling the local overlay
with it, and writing the mask that tells readers which shared rows the local ones replace.

The writer thread calls it; nothing here blocks longer than one bounded storage request (the reader options of
:mod:`indexer.object_store`). A storage fault keeps the last version read, says so once, and is retried.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from indexer.object_store import ObjectStoreError, explain, scrub, settings_options
from indexer.shared_mirror import TooLarge, mirrored_version, sync
from indexer.shared_view import SharedFiles, masked_paths, write_mask

if TYPE_CHECKING:
    from indexer.builder import IndexBuilder

log = logging.getLogger(__name__)

REFRESH_S = 20.0  # how often the shared version is asked for: a CI publish is seen within a minute
RETRY_S = 10.0  # ...and how soon again after a failure
COPY_MAX_MB = 2048  # the largest shared table copied to this machine (larger ones are read on object storage)


class WriterShared:
    """One workspace's overlay on the shared index at ``settings["shared_index"]`` (off when it is empty)."""

    def __init__(self, settings: dict[str, Any], index_dir: str, *, emit_status: Callable[[], None],
                 refresh_s: float = REFRESH_S) -> None:
        self.uri = str(settings.get("shared_index") or "")
        self.index_dir = index_dir
        self.refresh_s = refresh_s
        copy_mb = int(settings.get("shared_index_copy_max_mb", COPY_MAX_MB))
        self.copy_max_bytes = copy_mb * 1_000_000
        self._emit_status = emit_status
        self.files: SharedFiles | None = None
        self.setup_error: str | None = None
        self._next_at = 0.0
        self._mask: list[str] | None = None
        self._mask_version = -1
        self._counts: dict[str, int] = {"overlay_files": 0, "deleted_files": 0}
        self._mirror: dict[str, Any] = {"version": mirrored_version(index_dir)}
        self._mirror_wanted = threading.Event()
        self._mirror_thread: threading.Thread | None = None
        self._stopping = False
        if self.uri:
            try:
                options = settings_options(dict(settings.get("shared_index_options") or {}))
                self.files = SharedFiles(self.uri, options, index_dir)
            except ObjectStoreError as exc:
                self.setup_error = str(exc)
                log.warning("shared index: %s", exc)

    @property
    def on(self) -> bool:
        return bool(self.uri)

    def hash_fn(self) -> Callable[[str], str | None] | None:
        return self.files.hash_of if self.files is not None else None

    def wait(self, now: float) -> float | None:
        """Seconds until the next refresh is due; None when off."""
        if self.files is None:
            return None
        return self._next_at - now

    def refresh(self) -> bool:
        """Ask for the newest version; True when it changed. Says a change of reachability (a status event)."""
        if self.files is None:
            return False
        before = self.files.state.reachable
        changed = self.files.refresh()
        reachable = self.files.state.reachable
        self._next_at = time.monotonic() + (self.refresh_s if reachable else min(RETRY_S, self.refresh_s))
        if reachable != before or changed:
            if reachable and before is False:
                log.info("shared index: %s is reachable again", self.uri)
            self._emit_status()
        if reachable and self.copy_max_bytes > 0 and self.files.state.version != self._mirror.get("version"):
            self._want_mirror()
        return changed

    def stop(self) -> None:
        self._stopping = True
        self._mirror_wanted.set()

    # -- the local copy retrieval reads (indexer.shared_mirror), kept on a thread of its own -------------
    def _want_mirror(self) -> None:
        if self._mirror_thread is None:
            self._mirror_thread = threading.Thread(target=self._mirror_loop, name="srag-shared-mirror", daemon=True)
            self._mirror_thread.start()
        self._mirror_wanted.set()

    def _mirror_loop(self) -> None:
        assert self.files is not None
        while True:
            self._mirror_wanted.wait()
            self._mirror_wanted.clear()
            if self._stopping:
                return
            version = self.files.state.version
            if version == self._mirror.get("version"):
                continue
            try:
                report = sync(self.uri, self.files.options, self.index_dir, version, max_bytes=self.copy_max_bytes)
            except TooLarge as exc:
                log.info("shared index: %s", exc)
                self._mirror = {"version": None, "error": str(exc)}
                self.copy_max_bytes = 0  # not tried again this session
                self._emit_status()
                continue
            except Exception as exc:  # kept as it was: the next refresh tries again
                message = scrub(str(explain(self.uri, self.files.options, exc)), self.files.options)
                log.warning("shared index: the local copy was not brought up to date: %s", message)
                self._mirror = {**self._mirror, "error": message}
                continue
            log.info("shared index: local copy at version %d (%d files, %.1f MB fetched in %.1f s)", version,
                     report["fetched_files"], report["fetched_bytes"] / 1e6, report["seconds"])
            self._mirror = report
            self._emit_status()

    def reconcile(self, builder: IndexBuilder, overlays: Collection[str]) -> None:
        """After a build or a new shared version: local rows in line with the shared ones, and the mask written."""
        if self.files is None:
            return
        report = builder.reconcile_shared(skip=overlays)
        if report.files_total:
            log.info("shared index version %d: %d files now served from it or indexed here", self.files.state.version,
                     report.files_total)
        self.write_mask(builder, overlays)

    def write_mask(self, builder: IndexBuilder, overlays: Collection[str]) -> None:
        """Write the mask when it changed (readers pick it up by its modification time)."""
        if self.files is None or self.files.state.version == 0:
            return  # nothing known of the shared index yet: its rows are all there is
        shared = self.files.state.hashes
        local = builder.local_hashes()
        masked = masked_paths(shared, local, overlays)
        self._counts = {"overlay_files": sum(1 for p, h in local.items() if h and shared.get(p) != h),
                        "deleted_files": sum(1 for p in shared if p not in local)}
        if masked != self._mask or self.files.state.version != self._mask_version:
            write_mask(self.index_dir, self.files.state.version, masked)
            self._mask, self._mask_version = masked, self.files.state.version

    def status(self) -> dict[str, Any]:
        if not self.uri:
            return {}
        if self.files is None:
            return {"shared_index": {"uri": self.uri, "reachable": False, "error": self.setup_error}}
        mirror = {"version": self._mirror.get("version"), "bytes": self._mirror.get("bytes"),
                  "error": self._mirror.get("error")}
        return {"shared_index": {**self.files.state.summary(), **self._counts,
                                 "masked_files": len(self._mask or ()), "local_copy": mirror}}
