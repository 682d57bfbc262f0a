"""What an index folder holds and whether it can be used: the facts `srag-index status` and `srag-lsp doctor` say."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from indexer.location import is_local, local_path
from indexer.manifest import ManifestError, language_fingerprint, load_manifest, manifest_path
from indexer.query import IndexReader
from indexer.writer_lock import LockHeld, WriterLock


def index_status(root: Path, index_dir: str) -> dict[str, Any]:
    """Location, counts, versions and size, vectors per embedding model, the writer's pid, and any reason to rebuild."""
    reader = IndexReader.open(index_dir)
    info: dict[str, Any] = {"root": str(root), "index_dir": index_dir, "exists": reader is not None}
    if reader is not None:
        info.update(reader.stats())
        for model_id, vectors in (info.get("vectors") or {}).items():
            vectors.update(reader.embedding_coverage(model_id))
        reader.close()
    info["writer_pid"] = writer_pid(index_dir)
    stale = stale_reason(index_dir)
    if stale:
        info["needs_rebuild"] = stale
    return info


def writer_pid(index_dir: str) -> int | None:
    """The pid of the process writing this index (the daemon's worker or `srag-index`), None when none is."""
    if not is_local(index_dir) or not local_path(index_dir).exists():
        return None
    lock = WriterLock(local_path(index_dir))
    try:
        lock.acquire()
    except LockHeld:
        try:
            return int(lock.path.read_text().strip() or 0) or None
        except (OSError, ValueError):
            return -1
    except OSError:
        return None
    lock.release()
    return None


def stale_reason(index_dir: str) -> str | None:
    """Why the index on disk cannot be used as it is (damaged or written by another version), or None."""
    if not is_local(index_dir):
        return None
    try:
        manifest = load_manifest(manifest_path(local_path(index_dir)))
    except ManifestError as exc:
        return f"the manifest is unreadable ({exc})"
    if manifest is None:
        return "the manifest is missing"
    return manifest.mismatch(language_fingerprint())
