"""The index writer's status report: the fields every snapshot carries, and the index counts it refreshes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from indexer.builder import IndexBuilder


def initial_status(root: Path, index_dir: str, embeddings: str) -> dict[str, Any]:
    """The status of a writer that has not started yet (``embeddings``: the mode the settings ask for)."""
    return {
        "root": str(root),
        "index_dir": index_dir,
        "pid": os.getpid(),
        "phase": "starting",
        "files": 0,
        "chunks": 0,
        "pending": 0,
        "overlays": 0,
        "versions": 0,
        "fragments": 0,
        "initial_build_done": False,
        "writer": False,
        "watching": False,
        "last_error": None,
        "last_build": None,
        "embeddings": embeddings,
    }


def index_counts(builder: IndexBuilder, overlays: int) -> dict[str, int]:
    """Files with chunks, rows, table versions and fragments, and open overlays (reads the table: may raise)."""
    store = builder.store
    return {
        "files": sum(1 for r in builder.manifest.files.values() if r.chunk_ids),
        "chunks": store.count_rows(),
        "versions": store.version_count(),
        "fragments": store.fragment_count(),
        "overlays": overlays,
    }
