"""Open a workspace's index for reading, building it first when it does not exist (for headless use).

The daemon never builds here (its indexer worker does); the ``retrieve`` CLI and the benchmarks do, under
the index's writer lock so that they never race a running worker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_index_dir(workspace: str | Path, explicit: str | None = None) -> str:
    from indexer.location import resolve_index_dir

    return resolve_index_dir(workspace, explicit)


def build_index(workspace: str | Path, index_dir: str, *, embedder: Any = None) -> Any:
    """Build (or bring up to date) the index of ``workspace`` in ``index_dir``; returns the build report.

    With an ``embedder`` (``indexer.embedding``), every chunk text without a vector is embedded before it
    returns. Raises ``indexer.writer_lock.LockHeld`` when another process is writing that index.
    """
    from indexer.builder import IndexBuilder
    from indexer.embedding.background import BackgroundEmbedder
    from indexer.location import ensure_index_dir
    from indexer.opening import open_index
    from indexer.vectors import VectorStore
    from indexer.writer_lock import WriterLock

    folder = ensure_index_dir(index_dir)
    with WriterLock(folder):
        opened = open_index(index_dir)
        report = IndexBuilder(Path(workspace), opened).build()
        if embedder is not None:
            vectors = VectorStore(index_dir, embedder.model_id)
            queue = BackgroundEmbedder(embedder, lambda: opened.store, vectors, backoff_s=(1.0, 2.0))
            if not queue.run_until_done():
                log.warning("embedding %s stopped early: %s", workspace, queue.error)
        return report


def open_or_build(
    workspace: str | Path, index_dir: str, *, say: Callable[[str], None] | None = None, build: bool = True
) -> Any | None:
    """An ``IndexReader`` for ``index_dir``; when there is no index and ``build`` is set, build one first."""
    from indexer.query import IndexReader

    reader = IndexReader.open(index_dir)
    if reader is not None or not build:
        return reader
    if say is not None:
        say(f"no index at {index_dir}: building one for {workspace} (this happens once)")
    try:
        report = build_index(workspace, index_dir)
    except Exception as exc:
        if say is not None:
            say(f"could not build the index: {exc}")
        log.warning("could not build the index in %s: %s", index_dir, exc)
        return None
    if say is not None:
        files = getattr(report, "indexed", "?")
        chunks = getattr(report, "chunks_written", "?")
        seconds = getattr(report, "seconds", 0.0)
        say(f"indexed {files} files ({chunks} chunks) in {seconds:.1f} s")
    return IndexReader.open(index_dir)
