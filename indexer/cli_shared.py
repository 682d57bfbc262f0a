"""``srag-index build DIR --index-uri URI`` and ``srag-index status --index-uri URI``: a team's shared index on object
storage, as the command line shows it (the work is :mod:`indexer.shared_index`'s)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from indexer.builder import BuildReport
from indexer.manifest import ManifestError, load_manifest, manifest_path
from indexer.object_store import ObjectStoreError, storage_options
from indexer.shared_index import publish, status
from indexer.store import ChunkStore

EXIT_OK, EXIT_NOT_FOUND, EXIT_INDEX = 0, 1, 3


def _say(message: str) -> None:
    print(f"srag-index: {message}", file=sys.stderr)


def shared_publish(root: Path, index_dir: str, uri: str, option_items: Sequence[str], local: BuildReport, *,
                   as_json: bool) -> int:
    """Publish the local build in ``index_dir`` to ``uri``; print what was written."""
    try:
        options = storage_options(option_items)
        staging = ChunkStore.open(index_dir)
        manifest = load_manifest(manifest_path(Path(index_dir)))
        if manifest is None:
            _say(f"the local build in {index_dir} has no manifest; nothing published")
            return EXIT_INDEX
        report = publish(root, staging, manifest, uri, options)
    except (ObjectStoreError, ManifestError) as exc:
        _say(str(exc))
        return EXIT_INDEX
    if as_json:
        print(json.dumps({"root": str(root), "index_dir": index_dir, **local.as_dict(), "shared": report.as_dict()},
                         indent=2))
    else:
        print(f"indexed {root}: {local.files_total} files, {local.chunks_written} chunks written locally "
              f"({index_dir}) in {local.seconds:.1f}s")
        print(f"published to {uri}: {report.written_files} files written ({report.written_chunks} chunks), "
              f"{report.removed_files} removed; it holds {report.files} files, {report.chunks} chunks at version "
              f"{report.version}, commit {report.commit or '(not a git work tree)'}; {report.seconds:.1f}s")
        if report.vector_models:
            print(f"published {report.vectors_written} new vectors of {', '.join(report.vector_models)}")
    return EXIT_OK


def shared_status(uri: str, option_items: Sequence[str], *, as_json: bool) -> int:
    try:
        info: dict[str, Any] = status(uri, storage_options(option_items))
    except ObjectStoreError as exc:
        _say(str(exc))
        return EXIT_NOT_FOUND
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        print(f"shared index at {uri}")
        for key in ("version", "commit", "built_at", "files", "chunks", "schema_version"):
            print(f"  {key:<16} {info[key]}")
        print(f"  {'indexes':<16} {', '.join(info['indexes']) or 'none'}")
        for model, rows in info.get("vectors", {}).items():
            print(f"  {'vectors':<16} {model}: {rows}")
    return EXIT_OK
