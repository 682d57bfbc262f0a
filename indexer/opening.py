"""Opening a workspace's index: its table and manifest, rebuilt from scratch (logged) when they cannot be trusted.

:func:`open_index` also drops the unsaved-buffer overlays an earlier session left, and the rows a crash left
between a table write and the manifest save, so that the builder starts from a table and manifest that agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from indexer.location import ensure_index_dir
from indexer.manifest import Manifest, ManifestError, language_fingerprint, load_manifest, manifest_path, save_manifest
from indexer.store import DEFAULT_CLEANUP_AGE, ChunkStore, StoreError

log = logging.getLogger(__name__)


@dataclass(slots=True)
class OpenedIndex:
    store: ChunkStore
    manifest: Manifest
    manifest_file: Path
    rebuilt: str | None  # the reason for a clean rebuild, or None
    fresh: bool  # the table was created empty by this open


def open_index(index_dir: str, *, cleanup_age: timedelta = DEFAULT_CLEANUP_AGE) -> OpenedIndex:
    """Open a workspace's table and manifest; rebuild both from scratch (logged) when they cannot be trusted."""
    folder = ensure_index_dir(index_dir)
    manifest_file = manifest_path(folder)
    fingerprint = language_fingerprint()
    reason: str | None = None
    manifest: Manifest | None = None
    try:
        manifest = load_manifest(manifest_file)
    except ManifestError as exc:
        reason = f"the manifest is unreadable ({exc})"
    if manifest is not None:
        reason = manifest.mismatch(fingerprint)
    store: ChunkStore | None = None
    try:
        store = ChunkStore.open(index_dir, cleanup_age=cleanup_age)
    except StoreError as exc:
        reason = reason or f"the table is unusable ({exc})"
    if store is not None and reason is None:
        if manifest is None and not store.created and store.count_rows() > 0:
            reason = "the manifest is missing"
        elif manifest is not None and manifest.files and store.created:
            reason = "the table is missing"
    if reason is not None:
        log.warning("rebuilding the index in %s from scratch: %s", index_dir, reason)
        store = ChunkStore.recreate(index_dir, cleanup_age=cleanup_age)
        manifest = None
    assert store is not None
    if manifest is None:
        manifest = Manifest(languages=fingerprint)
        save_manifest(manifest_file, manifest)
    opened = OpenedIndex(store, manifest, manifest_file, reason, fresh=store.created)
    _drop_stale_overlays(opened)
    _reconcile(opened)
    return opened


def _drop_stale_overlays(opened: OpenedIndex) -> None:
    """Overlay rows of an earlier session describe buffers nobody edits now: fall back to the disk version."""
    stale = opened.store.overlay_paths()
    if not stale:
        return
    log.info("dropping %d unsaved-buffer overlays left by an earlier session", len(stale))
    opened.store.delete_where("overlay = true")
    for path in stale:
        opened.manifest.files.pop(path, None)  # re-read from disk by the next build
    save_manifest(opened.manifest_file, opened.manifest)


def _reconcile(opened: OpenedIndex) -> None:
    """Delete rows of paths the manifest does not know (left by a crash between a write and a manifest save)."""
    if opened.fresh:
        return
    rows = opened.store.count_rows()
    if rows == opened.manifest.chunk_count():
        return
    table_paths = set(opened.store.paths())
    orphans = table_paths - set(opened.manifest.files)
    if orphans:
        log.info("removing rows of %d files the manifest does not record", len(orphans))
        opened.store.delete_paths(orphans)
    # files whose rows are gone or doubled are re-read by the next build
    for path, record in list(opened.manifest.files.items()):
        if record.chunk_ids and path not in table_paths:
            opened.manifest.files.pop(path)
    save_manifest(opened.manifest_file, opened.manifest)
