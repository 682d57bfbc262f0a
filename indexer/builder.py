"""Full and incremental builds: walk the workspace, read and chunk what changed, write in batches, keep the manifest.

:class:`IndexBuilder` brings a workspace's table and manifest (opened by :func:`indexer.opening.open_index`)
in line with the files on disk, either the whole workspace (:meth:`IndexBuilder.build`) or a batch of paths
from the watcher (:meth:`IndexBuilder.update`), and writes unsaved buffers as overlays. Skips and errors are
logged and counted, never fatal. Many files are chunked in a process pool (:mod:`indexer.extract_pool`).
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from indexer.build_options import BuildOptions
from indexer.chunker import chunk_file
from indexer.extract import FileResult
from indexer.extract_pool import extract_results
from indexer.files import IgnoreRules, is_ignore_file, iter_workspace_files
from indexer.languages import language_for_path
from indexer.manifest import FileRecord, Manifest, save_manifest
from indexer.model import Chunk
from indexer.opening import OpenedIndex
from indexer.secrets import redact_chunks
from indexer.store import INDEXES

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int, str], None]  # (done, total, phase)
IndexedFn = Callable[[list[str], int], None]  # (paths written or removed, chunks written)
SharedHashFn = Callable[[str], "str | None"]  # a path's content hash in the team's shared index (None: it lacks it)


@dataclass(slots=True)
class BuildReport:
    files_total: int = 0  # files considered (walked, or named by the batch)
    indexed: int = 0  # files whose chunks were (re)written
    unchanged: int = 0
    removed: int = 0
    skipped: int = 0
    errors: int = 0
    chunks_written: int = 0
    write_batches: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    rebuilt: str | None = None  # why the index was rebuilt from scratch, if it was

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def changed(self) -> bool:
        return bool(self.indexed or self.removed or self.chunks_written)


class IndexBuilder:
    """Keeps one workspace's table and manifest in line with its files (what the single writer runs)."""

    def __init__(
        self,
        root: Path,
        opened: OpenedIndex,
        options: BuildOptions | None = None,
        *,
        on_indexed: IndexedFn | None = None,
        shared_hash: SharedHashFn | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.store = opened.store
        self.manifest = opened.manifest
        self.manifest_file = opened.manifest_file
        self.options = options or BuildOptions()
        self.on_indexed = on_indexed
        # With a shared index (indexer.shared_view), a file whose content equals the shared copy has no local rows:
        # its manifest record keeps the hash and no chunk ids, and the shared rows serve it.
        self.shared_hash = shared_hash
        self.stop_event = threading.Event()
        self._fresh = opened.fresh  # no rows to delete before adding (until the first build is done)
        self._manifest_dirty = False
        self._manifest_saved_at = 0.0
        self.rules = make_rules(self.root, self.options)

    # -- whole workspace ------------------------------------------------------------------------------
    def build(self, progress: ProgressFn | None = None, *, skip: Collection[str] = ()) -> BuildReport:
        """Bring the whole workspace up to date: new and changed files indexed, vanished ones removed."""
        started = time.perf_counter()
        report = BuildReport()
        _call(progress, 0, 0, "scan")
        seen: dict[str, tuple[int, int]] = {}
        for rel, size, mtime_ns in self._walk(self.root):
            if self.stop_event.is_set():
                report.interrupted = True
                break
            seen[rel] = (size, mtime_ns)
        report.files_total = len(seen)
        if not report.interrupted:
            gone = [p for p in self.manifest.files if p not in seen and p not in skip]
            self._remove(gone, report)
        todo = [rel for rel, stat in seen.items() if rel not in skip and self._stat_changed(rel, stat)]
        report.unchanged += len(seen) - len(todo)
        self._process(todo, report, progress)
        if not report.interrupted:
            self.manifest.complete = True
            self._manifest_dirty = True
            self._fresh = False
        self.save_manifest()
        missing_indexes = len(self.store.index_names()) < len(INDEXES) and self.store.count_rows() > 0
        if report.changed or missing_indexes:
            _call(progress, report.files_total, report.files_total, "optimize")
            self.finish_writes()
        report.seconds = time.perf_counter() - started
        _call(progress, report.files_total, report.files_total, "done")
        log.info(
            "index of %s: %d files, %d indexed, %d unchanged, %d removed, %d skipped, %d errors, %d chunks "
            "written in %.1fs",
            self.root,
            report.files_total,
            report.indexed,
            report.unchanged,
            report.removed,
            report.skipped,
            report.errors,
            report.chunks_written,
            report.seconds,
        )
        return report

    # -- a batch of paths (from the watcher or the editor) ---------------------------------------------
    def update(
        self, rel_paths: Iterable[str], *, skip: Collection[str] = (), progress: ProgressFn | None = None
    ) -> BuildReport:
        """Re-examine these workspace-relative paths (files or folders, existing or gone)."""
        started = time.perf_counter()
        report = BuildReport()
        candidates: dict[str, tuple[int, int]] = {}
        gone: set[str] = set()
        paths = {p.strip("/") for p in rel_paths if p and not p.startswith("..")}
        if any(is_ignore_file(p) for p in paths):
            log.info("an ignore file changed: reloading the ignore rules and rescanning")
            self.rules.invalidate()
            return self.build(progress, skip=skip)
        for rel in sorted(paths):
            if rel in skip:
                continue
            absolute = self.root / rel
            try:
                st = absolute.lstat()
            except OSError:
                gone.add(rel)
                gone.update(self.manifest.paths_under(rel))
                continue
            if _is_dir(st.st_mode):
                known_below = set(self.manifest.paths_under(rel))
                if self.rules.is_ignored(rel, True):
                    gone.update(known_below)
                    continue
                found = {r: (s, m) for r, s, m in self._walk(absolute)}
                candidates.update(found)
                gone.update(known_below - set(found))
            elif not _is_file(st.st_mode) or not self.indexable(rel):
                if rel in self.manifest.files:
                    gone.add(rel)
            else:
                candidates[rel] = (st.st_size, st.st_mtime_ns)
        gone -= set(skip)
        report.files_total = len(candidates) + len(gone)
        self._remove(sorted(p for p in gone if p in self.manifest.files), report)
        todo = [rel for rel, stat in candidates.items() if rel not in skip and self._stat_changed(rel, stat)]
        report.unchanged += len(candidates) - len(todo)
        self._process(todo, report, progress)
        self.save_manifest(force=False)
        report.seconds = time.perf_counter() - started
        return report

    def reindex(self, rel: str) -> BuildReport:
        """Index ``rel`` from disk whatever the manifest says (an editor overlay has just ended)."""
        report = BuildReport(files_total=1)
        absolute = self.root / rel
        if absolute.is_file() and self.indexable(rel):
            self._process([rel], report, None, force=True, delete_always=True)
        else:
            self.store.delete_paths([rel])
            if self.manifest.files.pop(rel, None) is not None:
                report.removed = 1
                self._manifest_dirty = True
            _call_indexed(self.on_indexed, [rel], 0)
        self.save_manifest(force=False)
        return report

    # -- unsaved buffers --------------------------------------------------------------------------------
    def write_overlay(self, rel: str, text: str) -> int:
        """Index an unsaved buffer's text in place of the file's rows; return the number of chunks."""
        try:
            chunks = list(chunk_file(rel, text, max_chunk_lines=self.options.max_chunk_lines).chunks)
        except Exception as exc:  # one bad buffer must not stop the writer
            log.warning("cannot chunk the unsaved buffer of %s: %s", rel, exc)
            return 0
        self.store.replace([rel], redact_chunks(chunks), overlay=True, redacted=True)
        _call_indexed(self.on_indexed, [rel], len(chunks))
        return len(chunks)

    # -- helpers -----------------------------------------------------------------------------------------
    def indexable(self, rel: str) -> bool:
        return language_for_path(rel) is not None and not self.rules.is_ignored(rel, False)

    def finish_writes(self) -> None:
        """Create missing indexes, compact and clean up old versions, then take fresh table handles (which
        frees what the old ones cached)."""
        created = self.store.ensure_indexes()
        if created:
            log.info("created indexes %s", ", ".join(created))
        self.store.optimize()
        self.store.reopen()

    def save_manifest(self, *, force: bool = True) -> None:
        if not self._manifest_dirty:
            return
        now = time.monotonic()
        if not force and now - self._manifest_saved_at < self.options.manifest_save_interval_s:
            return
        save_manifest(self.manifest_file, self.manifest)
        self._manifest_dirty = False
        self._manifest_saved_at = now

    def _walk(self, top: Path) -> Iterator[tuple[str, int, int]]:
        """(relative path, size, mtime_ns) of indexable files under ``top`` (the root or a folder in it)."""
        if top == self.root:
            source: Iterable[Path] = iter_workspace_files(self.root, self.rules)
        else:
            source = _walk_folder(self.root, top, self.rules)
        for path in source:
            if language_for_path(path.name) is None:
                continue
            absolute = path if path.is_absolute() else self.root / path
            try:
                st = absolute.stat()
            except OSError as exc:
                log.info("skipped %s: %s", absolute, exc.strerror or exc)
                continue
            if not _is_file(st.st_mode):
                continue
            try:
                rel = absolute.relative_to(self.root).as_posix()
            except ValueError:
                continue
            yield rel, st.st_size, st.st_mtime_ns

    def _stat_changed(self, rel: str, stat: tuple[int, int]) -> bool:
        record = self.manifest.files.get(rel)
        return record is None or (record.size, record.mtime_ns) != stat

    def _remove(self, paths: list[str], report: BuildReport) -> None:
        if not paths:
            return
        self.store.delete_paths(paths)
        for path in paths:
            self.manifest.files.pop(path, None)
        report.removed += len(paths)
        self._manifest_dirty = True
        _call_indexed(self.on_indexed, list(paths), 0)

    def _process(
        self,
        todo: list[str],
        report: BuildReport,
        progress: ProgressFn | None,
        *,
        force: bool = False,
        delete_always: bool = False,
    ) -> None:
        """Read, hash and chunk ``todo``; write changed files in batches; record everything in the manifest."""
        if not todo:
            return
        total = len(todo)
        pending: list[FileResult] = []
        pending_chunks = 0
        done = 0
        _call(progress, 0, total, "index")
        for result in self._results(todo, force=force):
            done += 1
            if result.skipped is not None:
                report.skipped += 1
                log.debug("skipped %s: %s", result.path, result.skipped)  # read_source logged it already
            elif result.error is not None:
                report.errors += 1
                log.warning("%s: %s", result.path, result.error)
            elif result.note:
                log.debug("%s: %s", result.path, result.note)
            if result.unchanged:
                report.unchanged += 1
                record = self.manifest.files.get(result.path)
                if record is None:  # equal to the shared index's copy (the only other known hash): served there
                    self.manifest.files[result.path] = FileRecord(result.size, result.mtime_ns, result.content_hash, [])
                else:
                    record.size, record.mtime_ns = result.size, result.mtime_ns
                self._manifest_dirty = True
            elif (
                result.chunks is not None
                or result.path in self.manifest.files
                or result.error is not None
                or delete_always
            ):
                pending.append(result)
                pending_chunks += len(result.chunks or ())
            elif result.skipped != "vanished":
                # a skipped file that was never indexed: remember it so that a restart does not re-read it
                self.manifest.files[result.path] = FileRecord(result.size, result.mtime_ns, "", [])
                self._manifest_dirty = True
            if pending_chunks >= self.options.write_batch_chunks:
                self._flush(pending, report, delete_always=delete_always)
                pending, pending_chunks = [], 0
            if progress is not None and (done == total or done % 16 == 0):
                progress(done, total, "index")
            if self.stop_event.is_set():
                report.interrupted = True
                break
        self._flush(pending, report, delete_always=delete_always)

    def _flush(self, results: list[FileResult], report: BuildReport, *, delete_always: bool) -> None:
        if not results:
            return
        delete = [r.path for r in results if delete_always or not self._fresh or r.path in self.manifest.files]
        served = {r.path for r in results if r.chunks is not None and self._served_by_shared(r.path, r.content_hash)}
        for r in results:
            if r.path in served:
                r.chunks = []  # the shared rows serve this content; no local copy
        chunks: list[Chunk] = [c for r in results for c in (r.chunks or ())]
        self.store.replace(delete, chunks, redacted=True)  # redacted by _results
        for r in results:
            if r.skipped == "vanished":
                if self.manifest.files.pop(r.path, None) is not None:
                    report.removed += 1
                continue
            self.manifest.files[r.path] = FileRecord(
                r.size, r.mtime_ns, r.content_hash if r.chunks is not None else "", [c.id for c in r.chunks or ()]
            )
            if r.chunks is not None:
                report.indexed += 1
        report.chunks_written += len(chunks)
        report.write_batches += 1
        self._manifest_dirty = True
        self.save_manifest(force=False)
        _call_indexed(self.on_indexed, [r.path for r in results], len(chunks))

    def _results(self, todo: list[str], *, force: bool) -> Iterator[FileResult]:
        items = [(rel, None if force else self._known_hash(rel)) for rel in todo]
        return extract_results(str(self.root), items, self.options, self.stop_event)

    def _known_hash(self, rel: str) -> str | None:
        """The hash a file is compared with: the manifest's, else the shared index's (equal: nothing to chunk)."""
        known = _known_hash(self.manifest, rel)
        if known is None and rel not in self.manifest.files and self.shared_hash is not None:
            return self.shared_hash(rel)
        return known

    def _served_by_shared(self, rel: str, content_hash: str) -> bool:
        return bool(self.shared_hash is not None and content_hash and self.shared_hash(rel) == content_hash)

    # -- the shared index ----------------------------------------------------------------------------------
    def reconcile_shared(self, *, skip: Collection[str] = ()) -> BuildReport:
        """Bring the local rows in line with a (newly read) shared version: files now equal to the shared copy
        lose their local rows; files that the shared rows served and that now differ from them are indexed here."""
        report = BuildReport()
        if self.shared_hash is None:
            return report
        started = time.perf_counter()
        now_served: list[str] = []
        stale: list[str] = []
        for path, record in self.manifest.files.items():
            if not record.content_hash or path in skip:
                continue
            equal = self.shared_hash(path) == record.content_hash
            if equal and record.chunk_ids:
                now_served.append(path)
            elif not equal and not record.chunk_ids:
                stale.append(path)
        if now_served:
            self.store.delete_paths(now_served)
            for path in now_served:
                self.manifest.files[path].chunk_ids = []
            self._manifest_dirty = True
            _call_indexed(self.on_indexed, now_served, 0)
        report.files_total = len(now_served) + len(stale)
        self._process(stale, report, None, force=True, delete_always=True)
        self.save_manifest(force=False)
        report.seconds = time.perf_counter() - started
        return report

    def local_hashes(self) -> dict[str, str]:
        """path -> content hash of every workspace file the manifest knows ("" for one it could not read)."""
        return {path: record.content_hash for path, record in self.manifest.files.items()}


def make_rules(root: Path, options: BuildOptions) -> Any:
    """The workspace's ignore rules (.gitignore and the built-in ignores) from :mod:`indexer.files`."""
    return IgnoreRules(root, index_secrets=options.index_secrets)


def _walk_folder(root: Path, top: Path, rules: Any) -> Iterator[Path]:
    """Indexable files under one folder of the workspace, pruning ignored folders as it goes."""
    for folder, dirnames, filenames in os.walk(top):
        base = Path(folder)
        rel_folder = base.relative_to(root).as_posix()
        prefix = "" if rel_folder == "." else rel_folder + "/"
        dirnames[:] = [d for d in dirnames if not rules.is_ignored(prefix + d, True)]
        for name in filenames:
            rel = prefix + name
            if language_for_path(rel) is not None and not rules.is_ignored(rel, False):
                yield base / name


def _known_hash(manifest: Manifest, rel: str) -> str | None:
    record = manifest.files.get(rel)
    return record.content_hash if record is not None and record.content_hash else None


def _is_dir(mode: int) -> bool:
    return stat.S_ISDIR(mode)


def _is_file(mode: int) -> bool:
    return stat.S_ISREG(mode)


def _call(progress: ProgressFn | None, done: int, total: int, phase: str) -> None:
    if progress is None:
        return
    try:
        progress(done, total, phase)
    except Exception:  # a broken progress display must not stop the build
        log.debug("progress callback failed", exc_info=True)


def _call_indexed(callback: IndexedFn | None, paths: list[str], chunks: int) -> None:
    if callback is None:
        return
    try:
        callback(paths, chunks)
    except Exception:
        log.debug("indexed callback failed", exc_info=True)
