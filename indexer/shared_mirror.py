"""A local copy of the shared index's ``chunks`` table (and its vectors tables), kept by the index worker, read by
retrieval.

Queried on S3 directly, each retrieval downloads what it reads (LanceDB caches indexes and metadata, not data
pages): 3 to 4 times slower than local disk even on loopback (benchmarks/bench_shared_index.py), and a real
network's round trips would make it worse. A Lance table's files never change once written (data, indexes,
deletion files, and one manifest per version), so a copy is brought up to date by downloading the files it lacks:
data and indexes first, manifests last, so that a reader of the copy never sees a version whose files are not
there yet. Files the shared table dropped (old versions cleaned up) are dropped here too.

The copy also is "the last version read" when the storage is unreachable: retrieval goes on from it.
Downloads go through ``pyarrow.fs.S3FileSystem`` (pyarrow comes with LanceDB), with the same storage options.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from indexer.atomic_file import write_atomically
from indexer.chunk_table import TABLE_NAME
from indexer.vectors import TABLE_PREFIX

log = logging.getLogger(__name__)

MIRROR_DIR = "shared_mirror"
READY_FILE = "mirror.json"
_TABLE_DIR = f"{TABLE_NAME}.lance"


def mirror_root(index_dir: str | Path) -> Path:
    """The folder a reader opens (it holds ``chunks.lance``) for the overlay at ``index_dir``."""
    return Path(index_dir) / MIRROR_DIR


def mirrored_version(index_dir: str | Path) -> int | None:
    """The shared version the copy holds completely; None while there is no complete copy."""
    try:
        return int(json.loads((mirror_root(index_dir) / READY_FILE).read_text())["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _copied(rel: str) -> bool:
    """The tables retrieval reads: the chunks and each model's vectors (not ``files``, ``builds`` or the lease)."""
    top = rel.split("/", 1)[0]
    return "/" in rel and (top == _TABLE_DIR or (top.startswith(TABLE_PREFIX) and top.endswith(".lance")))


def filesystem(options: Mapping[str, str]) -> Any:
    """A ``pyarrow.fs.S3FileSystem`` with LanceDB's storage options (the AWS variables' values among them)."""
    import pyarrow.fs as pafs

    endpoint = options.get("aws_endpoint") or options.get("endpoint") or ""
    kwargs: dict[str, Any] = {"region": options.get("aws_region") or options.get("region") or "us-east-1",
                              "connect_timeout": 5, "request_timeout": 30}
    if options.get("aws_access_key_id"):
        kwargs.update(access_key=options["aws_access_key_id"], secret_key=options.get("aws_secret_access_key", ""),
                      session_token=options.get("aws_session_token") or None)
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        kwargs.update(endpoint_override=parts.netloc + parts.path.rstrip("/"), scheme=parts.scheme)
    return pafs.S3FileSystem(**kwargs)


class TooLarge(Exception):
    """The shared table is larger than the copy may be: retrieval reads object storage directly."""


def sync(uri: str, options: Mapping[str, str], index_dir: str | Path, version: int, *,
         max_bytes: int | None = None) -> dict[str, Any]:
    """Bring the copy of ``uri``'s chunks table up to ``version`` (what the shared index holds now); returns what
    it moved. Raises what the storage raises (the caller says it once and keeps the copy it has), and
    :class:`TooLarge` (with no copy left behind) when the table is over ``max_bytes``."""
    import pyarrow.fs as pafs

    started = time.perf_counter()
    fs = filesystem(options)
    parts = urlsplit(uri)
    base = f"{parts.netloc}/{parts.path.strip('/')}".rstrip("/")
    remote: dict[str, int] = {}
    for info in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        rel = info.path[len(base) + 1:]
        if info.type == pafs.FileType.File and _copied(rel):
            remote[rel] = int(info.size or 0)
    local_table = mirror_root(index_dir)
    total = sum(remote.values())
    if max_bytes is not None and total > max_bytes:
        shutil.rmtree(mirror_root(index_dir), ignore_errors=True)
        raise TooLarge(f"the shared table is {total / 1e6:.0f} MB, over sharedIndexCopyMaxMb "
                       f"({max_bytes / 1e6:.0f} MB): reading it on object storage")
    fetched, fetched_bytes = 0, 0
    # data, indexes and deletions first; the manifests (which name them) last
    for rel in sorted(remote, key=lambda r: ("/_versions/" in r, r)):
        target = local_table / rel
        if target.exists() and target.stat().st_size == remote[rel]:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.part")
        with fs.open_input_stream(f"{base}/{rel}") as source, open(temporary, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        os.replace(temporary, target)
        fetched += 1
        fetched_bytes += remote[rel]
    dropped = 0
    if local_table.exists():
        for path in sorted(local_table.rglob("*"), key=lambda p: "/_versions/" not in p.as_posix()):
            rel = path.relative_to(local_table).as_posix()
            if path.is_file() and _copied(rel) and rel not in remote:
                path.unlink(missing_ok=True)
                dropped += 1
    report = {"version": version, "files": len(remote), "bytes": sum(remote.values()), "fetched_files": fetched,
              "fetched_bytes": fetched_bytes, "dropped_files": dropped,
              "seconds": round(time.perf_counter() - started, 2)}
    write_atomically(mirror_root(index_dir) / READY_FILE, json.dumps(report).encode())
    return report
