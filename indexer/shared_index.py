"""A team's index on object storage: publishing a local build there, writing only what changed, and saying what
it holds.

CI builds the workspace's index as usual into a local folder (the staging copy: walking, ignore rules, secret
redaction and chunking are the local builder's), then :func:`publish` brings the shared tables in line with it.
Three LanceDB tables live at the URI:

- ``chunks``: the local table's schema; the rows of every file (never an unsaved-buffer overlay);
- ``files``: one row per file: ``path``, ``content_hash``, ``chunks``;
- ``builds``: one row per publish: the repository's ``commit``, ``schema_version``, ``languages`` (the language
  table's fingerprint), ``built_at``, and the ``files`` and ``chunks`` it holds.

A file whose content hash equals the shared one is not written. Each table's change is one commit: a
``merge_insert`` on the key that also deletes the rows of changed and removed files. Builders publish one at a time,
under a lease (a table only one of them can create); a second builder waits for it, then finds little or nothing to
write. A commit conflict (a writer that does not take the lease) is re-read and retried, then a clear message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa

from indexer.chunk_table import SCHEMA, TABLE_NAME
from indexer.manifest import Manifest, language_fingerprint
from indexer.model import SCHEMA_VERSION
from indexer.object_store import ObjectStoreError, explain, scrub
from indexer.store import INDEXES, ChunkStore, sql_in
from indexer.vectors import TABLE_PREFIX, VectorStore, model_id_of, table_names

log = logging.getLogger(__name__)

FILES = "files"
BUILDS = "builds"
FILES_SCHEMA = pa.schema([pa.field("path", pa.string(), nullable=False), pa.field("content_hash", pa.string()),
                          pa.field("chunks", pa.int32())])
BUILDS_SCHEMA = pa.schema([pa.field("built_at", pa.string()), pa.field("commit", pa.string()),
                           pa.field("schema_version", pa.int32()), pa.field("languages", pa.string()),
                           pa.field("files", pa.int64()), pa.field("chunks", pa.int64()),
                           pa.field("chunks_version", pa.int64())])
ATTEMPTS = 4  # a publish that meets a commit conflict re-reads and tries again this many times in all
LEASE = "publish_lease"
LEASE_WAIT_S = 600.0  # how long a builder waits for another's publish
LEASE_STALE_S = 1800.0  # a lease this old was left by a builder that died
# A lease that exists but cannot be read this long is the debris of a create that died half-way. For a moment it is
# also what another builder's lease looks like while it is being created: clearing it at once let two builders hold
# the lease together, and both inserted every chunk.
LEASE_DEBRIS_S = 5.0
# A create that succeeded is read back after this long: on storage without conditional writes two creates at once can
# both succeed, the later one overwriting the first (seen on SeaweedFS: both builders published, every chunk twice).
# The lease belongs to the holder the table shows, the earliest if it shows more than one.
LEASE_SETTLE_S = 1.0
CLEANUP_AGE = timedelta(hours=6)  # old versions stay this long: running daemons may still read one


@dataclass(slots=True)
class PublishReport:
    uri: str
    commit: str
    files: int = 0  # files the shared index holds after the publish
    chunks: int = 0
    written_files: int = 0  # files whose rows were (re)written
    removed_files: int = 0
    written_chunks: int = 0
    attempts: int = 1
    seconds: float = 0.0
    version: int = 0  # the shared chunks table's version after the publish
    vectors_written: int = 0  # vectors of chunk texts the shared index lacked (built with embeddings)
    vector_models: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def repository_commit(root: Path) -> str:
    """``git rev-parse HEAD`` of ``root`` when it is a git work tree, else ""."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def connect(uri: str, options: Mapping[str, str], *, read_consistency_s: float | None = None) -> Any:
    """A LanceDB connection to ``uri``; ObjectStoreError when the storage cannot be reached or used."""
    kwargs: dict[str, Any] = {"storage_options": dict(options)}
    if read_consistency_s is not None:
        kwargs["read_consistency_interval"] = timedelta(seconds=read_consistency_s)
    try:
        db = lancedb.connect(uri, **kwargs)
        _table_names(db)  # the first request: a missing bucket or bad credentials show here
    except Exception as exc:
        raise explain(uri, options, exc) from None
    return db


def _table_names(db: Any) -> list[str]:
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    return list(getattr(listing, "tables", listing))


def latest_build(db: Any) -> dict[str, Any] | None:
    """The newest ``builds`` row, or None when nothing was published there."""
    if BUILDS not in _table_names(db):
        return None
    rows = db.open_table(BUILDS).to_arrow().to_pylist()
    return max(rows, key=lambda r: (r["chunks_version"], r["built_at"])) if rows else None


def check_schema(uri: str, build: Mapping[str, Any] | None) -> None:
    """ObjectStoreError when the shared index was written by another schema version than this code reads."""
    if build is not None and int(build["schema_version"]) != SCHEMA_VERSION:
        raise ObjectStoreError(
            f"the shared index at {uri} was built by index schema version {build['schema_version']}; this srag-lsp "
            f"reads version {SCHEMA_VERSION}: rebuild it with this version (srag-index build DIR --index-uri {uri})")


def shared_files(db: Any) -> dict[str, str]:
    """path -> content hash of every file the shared index holds."""
    if FILES not in _table_names(db):
        return {}
    table = db.open_table(FILES).to_arrow()
    return dict(zip(table.column("path").to_pylist(), table.column("content_hash").to_pylist(), strict=True))


@contextlib.contextmanager
def publishing_lease(db: Any, uri: str, options: Mapping[str, str], wait_s: float = LEASE_WAIT_S) -> Iterator[None]:
    """Hold the publishing lease: a small table that only one builder can create (Lance writes a table's first
    version with a conditional PUT), dropped when done. Two merge_inserts of the same new rows at once would both
    insert them (measured: every chunk twice), so builders publish one at a time. A lease older than
    ``LEASE_STALE_S`` (a builder that died) is broken."""
    holder = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"
    deadline = time.monotonic() + wait_s
    unreadable_since: float | None = None
    while True:
        try:
            db.create_table(LEASE, data=pa.table({"holder": [holder], "since": [time.time()]}), mode="create")
            time.sleep(LEASE_SETTLE_S)
            if _lease_holder(db) == holder:
                break
            log.info("another builder created the publishing lease at the same time; waiting for it")
        except Exception as exc:  # held: "already exists", or a commit conflict when two create it at once
            if "exist" not in str(exc).lower() and not _is_conflict(exc):
                raise explain(uri, options, exc) from None
        try:
            since = db.open_table(LEASE).to_arrow().column("since").to_pylist()
            unreadable_since = None
        except Exception:  # dropped meanwhile (try again), being created, or debris: cleared once it stays so
            since = []
            unreadable_since = unreadable_since if unreadable_since is not None else time.monotonic()
            if time.monotonic() - unreadable_since > LEASE_DEBRIS_S:
                log.warning("clearing a publishing lease that could not be read for %.0f s", LEASE_DEBRIS_S)
                with contextlib.suppress(Exception):
                    db.drop_table(LEASE)
                unreadable_since = None
                continue
        if since and time.time() - float(since[0]) > LEASE_STALE_S:
            log.warning("breaking a publishing lease held since %s s", round(time.time() - float(since[0])))
            with contextlib.suppress(Exception):
                db.drop_table(LEASE)
            continue
        if time.monotonic() > deadline:
            raise ObjectStoreError(f"another builder has been publishing to {uri} for over {wait_s:.0f} s: run this "
                                   "build again when it has finished") from None
        time.sleep(0.3)
    try:
        yield
    finally:
        try:
            db.drop_table(LEASE)
        except Exception as exc:
            log.warning("could not give back the publishing lease at %s: %s", uri, scrub(str(exc), options))


def _lease_holder(db: Any) -> str | None:
    """Who holds the publishing lease as the table shows it: its earliest row's holder (None when unreadable)."""
    try:
        rows = db.open_table(LEASE).to_arrow().to_pylist()
    except Exception:
        return None
    return min(rows, key=lambda r: (r["since"], r["holder"]))["holder"] if rows else None


def publish(root: Path, staging: ChunkStore, manifest: Manifest, uri: str, options: Mapping[str, str],
            *, commit: str | None = None) -> PublishReport:
    """Bring the shared index at ``uri`` in line with the local build (``staging``, ``manifest``)."""
    started = time.perf_counter()
    report = PublishReport(uri, repository_commit(root) if commit is None else commit)
    db = connect(uri, options)
    with publishing_lease(db, uri, options):
        _publish_retrying(db, staging, manifest, uri, options, report)
        try:
            _publish_vectors(db, staging.uri, report)
        except Exception as exc:
            raise explain(uri, options, exc) from None
    report.seconds = time.perf_counter() - started
    return report


def _publish_retrying(db: Any, staging: ChunkStore, manifest: Manifest, uri: str, options: Mapping[str, str],
                      report: PublishReport) -> None:
    last_error: Exception | None = None
    for attempt in range(1, ATTEMPTS + 1):
        report.attempts = attempt
        try:
            _publish_once(db, staging, manifest, report)
            break
        except ObjectStoreError:
            raise
        except Exception as exc:
            if not _is_conflict(exc):
                raise explain(uri, options, exc) from None
            last_error = exc
            log.info("another builder committed first (%s); reading the shared index again", type(exc).__name__)
            time.sleep(0.2 * attempt)
            db = connect(uri, options)
    else:
        raise ObjectStoreError(f"another builder kept committing to {uri} at the same time ({ATTEMPTS} attempts; "
                               f"last: {type(last_error).__name__}): run this build again") from None


def _is_conflict(exc: Exception) -> bool:
    said = str(exc).lower()
    return any(word in said for word in ("conflict", "retryable", "concurrent", "already exists"))


def _publish_once(db: Any, staging: ChunkStore, manifest: Manifest, report: PublishReport) -> None:
    names = _table_names(db)
    check_schema(report.uri, latest_build(db))
    have = shared_files(db)
    want = {path: record.content_hash for path, record in manifest.files.items() if record.content_hash}
    changed = sorted(p for p, h in want.items() if have.get(p) != h)
    removed = sorted(set(have) - set(want))
    rows = staging.rows(changed) if changed else SCHEMA.empty_table()
    chunks = _table(db, names, TABLE_NAME, SCHEMA)
    if changed or removed:
        merge = chunks.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
        merge.when_not_matched_by_source_delete(sql_in("path", changed + removed)).execute(rows)
        files_rows = pa.Table.from_pylist(
            [{"path": p, "content_hash": want[p], "chunks": len(manifest.files[p].chunk_ids)} for p in changed],
            schema=FILES_SCHEMA)
        files = _table(db, names, FILES, FILES_SCHEMA)
        files_merge = files.merge_insert("path").when_matched_update_all().when_not_matched_insert_all()
        if removed:
            files_merge = files_merge.when_not_matched_by_source_delete(sql_in("path", removed))
        files_merge.execute(files_rows)
        _index(chunks)
    report.written_files, report.removed_files, report.written_chunks = len(changed), len(removed), rows.num_rows
    report.files, report.chunks, report.version = len(want), chunks.count_rows(), int(chunks.version)
    build = {"built_at": datetime.now(UTC).isoformat(timespec="seconds"), "commit": report.commit,
             "schema_version": SCHEMA_VERSION, "languages": language_fingerprint(), "files": report.files,
             "chunks": report.chunks, "chunks_version": report.version}
    builds = _table(db, names, BUILDS, BUILDS_SCHEMA)
    builds.add(pa.Table.from_pylist([build], schema=BUILDS_SCHEMA))


def _vector_counts(db: Any) -> dict[str, int]:
    """model id -> vectors the shared index holds for it."""
    out: dict[str, int] = {}
    for name in table_names(db):
        if name.startswith(TABLE_PREFIX):
            table = db.open_table(name)
            out[model_id_of(table) or name] = int(table.count_rows())
    return out


def _publish_vectors(db: Any, staging_uri: str, report: PublishReport) -> None:
    """The vectors of the local build (one table per embedding model, keyed by content hash) that the shared index
    lacks. A vector never changes for its hash, so publishing only adds; the IVF index follows the table's size."""
    import pyarrow.compute as pc

    local = lancedb.connect(staging_uri)
    for name in table_names(local):
        if not name.startswith(TABLE_PREFIX):
            continue
        source = local.open_table(name)
        model = model_id_of(source)
        if not model or source.count_rows() == 0:
            continue
        shared = VectorStore(report.uri, model, cleanup_age=CLEANUP_AGE, db=db)
        rows = source.to_arrow()
        have = shared.hashes()
        if have:
            rows = rows.filter(pc.invert(pc.is_in(rows.column("content_hash"), value_set=pa.array(sorted(have)))))
        shared.add_rows(rows)
        if rows.num_rows:
            shared.ensure_index()
            shared.optimize()
        report.vectors_written += rows.num_rows
        report.vector_models.append(model)


def _table(db: Any, names: list[str], name: str, schema: pa.Schema) -> Any:
    """The table ``name``, created when absent (another builder may create it at the same moment: that is fine)."""
    return db.open_table(name) if name in names else db.create_table(name, schema=schema, exist_ok=True)


def _index(chunks: Any) -> None:
    """The local table's indexes on the shared one (created once, then folded in by ``optimize``)."""
    if chunks.count_rows() == 0:
        return
    present = {index.name for index in chunks.list_indices()}
    for name, (column, config) in INDEXES.items():
        if name not in present:
            chunks.create_index(column, config=config(), name=name, replace=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        chunks.optimize(cleanup_older_than=CLEANUP_AGE)


def status(uri: str, options: Mapping[str, str]) -> dict[str, Any]:
    """What the shared index at ``uri`` holds: its version, the commit it was built from, files and chunks."""
    db = connect(uri, options)
    try:
        build = latest_build(db)
        if build is None:
            raise ObjectStoreError(f"nothing was published at {uri} yet: srag-index build DIR --index-uri {uri}")
        chunks = db.open_table(TABLE_NAME)
        return {"uri": uri, "version": int(chunks.version), "commit": build["commit"], "built_at": build["built_at"],
                "schema_version": build["schema_version"], "files": len(shared_files(db)),
                "chunks": int(chunks.count_rows()), "indexes": sorted(i.name for i in chunks.list_indices()),
                "vectors": _vector_counts(db)}
    except ObjectStoreError:
        raise
    except Exception as exc:
        raise explain(uri, options, exc) from None
