"""The LanceDB table of chunks: its indexes and the writer's operations on it.

One table, ``chunks``, holds every indexed chunk of a workspace; rows of unsaved editor buffers carry
``overlay = true`` and replace the file's rows from disk while the buffer is open; its columns are listed in
:mod:`indexer.chunk_table`. Only the indexer worker writes (see :mod:`indexer.writer`); readers use
:mod:`indexer.query`.

LanceDB facts this module is built around (measured, see DESIGN.md): replacing a file is a delete then an
add (two versions); versions and small fragments pile up until ``optimize``; a cleanup age of zero can break
a concurrent reader, so the cleanup age is never zero; a reader's handle must ask for read consistency.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from collections.abc import Collection, Iterable, Sequence
from datetime import timedelta
from operator import attrgetter
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import FTS, BTree

from indexer.chunk_table import COLUMNS, OVERLAY, SCHEMA, TABLE_NAME
from indexer.location import ensure_index_dir, is_local, local_path
from indexer.model import Chunk
from indexer.secrets import redact_chunks

log = logging.getLogger(__name__)

DEFAULT_CLEANUP_AGE = timedelta(seconds=10)  # never zero: readers in other processes may still use a version

# name -> (column, config factory). Both FTS indexes use LanceDB's native FTS (not tantivy).
INDEXES: dict[str, tuple[str, Any]] = {
    "tokens_idx": (
        "tokens",
        lambda: FTS(with_position=False, stem=False, remove_stop_words=False, base_tokenizer="simple"),
    ),
    "text_idx": ("text", lambda: FTS(with_position=False)),
    "symbol_idx": ("symbol", BTree),
    "qualified_name_idx": ("qualified_name", BTree),
    "path_idx": ("path", BTree),
    "content_hash_idx": ("content_hash", BTree),  # the join with the vectors tables (indexer.vectors)
}


def chunks_to_arrow(chunks: Sequence[Chunk], *, overlay: bool = False) -> pa.Table:
    """Columns of ``chunks`` as an Arrow table in :data:`~indexer.chunk_table.SCHEMA` order."""
    columns: dict[str, list[Any]] = {}
    for column in COLUMNS:
        if column.name == OVERLAY:
            columns[column.name] = [overlay] * len(chunks)
        elif pa.types.is_list(column.type):
            columns[column.name] = [list(value) for value in map(attrgetter(column.name), chunks)]
        else:
            columns[column.name] = list(map(attrgetter(column.name), chunks))
    return pa.Table.from_pydict(columns, schema=SCHEMA)


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def sql_in(column: str, values: Iterable[str]) -> str:
    return f"{column} IN ({', '.join(sql_string(v) for v in values)})"


class StoreError(Exception):
    """The table cannot be opened or used (missing files, a damaged manifest, a foreign schema)."""


class ChunkStore:
    """The writer's handle on a workspace's ``chunks`` table."""

    def __init__(self, uri: str, db: Any, table: Any, *, cleanup_age: timedelta = DEFAULT_CLEANUP_AGE) -> None:
        if cleanup_age <= timedelta(0):
            raise ValueError("cleanup_age must be positive: a zero age breaks concurrent readers")
        self.uri = uri
        self._db = db
        self._table = table
        self.cleanup_age = cleanup_age
        self.created = False  # True when open() had to create the table (nothing to delete before adding)

    # -- opening ----------------------------------------------------------------------------------------
    @classmethod
    def open(cls, uri: str, *, cleanup_age: timedelta = DEFAULT_CLEANUP_AGE) -> ChunkStore:
        """Open the table at ``uri``, creating it when absent; StoreError when it exists but is unusable."""
        if is_local(uri):
            ensure_index_dir(uri)
        try:
            db = lancedb.connect(uri)
            exists = TABLE_NAME in _table_names(db)
        except Exception as exc:  # any failure here means the location is unusable
            raise StoreError(f"cannot open the index at {uri}: {exc}") from exc
        if not exists:
            if is_local(uri) and (local_path(uri) / f"{TABLE_NAME}.lance").exists():
                raise StoreError(f"the table folder in {uri} exists but is not a readable table")
            store = cls(uri, db, db.create_table(TABLE_NAME, schema=SCHEMA), cleanup_age=cleanup_age)
            store.created = True
            return store
        try:
            table = db.open_table(TABLE_NAME)
            _validate(table)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"the index table in {uri} is damaged: {exc}") from exc
        return cls(uri, db, table, cleanup_age=cleanup_age)

    @classmethod
    def recreate(cls, uri: str, *, cleanup_age: timedelta = DEFAULT_CLEANUP_AGE) -> ChunkStore:
        """Throw the table away (whatever state it is in) and start an empty one."""
        if is_local(uri):
            folder = local_path(uri) / f"{TABLE_NAME}.lance"
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        else:
            try:
                lancedb.connect(uri).drop_table(TABLE_NAME)
            except Exception:  # absent already
                pass
        return cls.open(uri, cleanup_age=cleanup_age)

    # -- writing ----------------------------------------------------------------------------------------
    def replace(
        self, paths: Collection[str], chunks: Sequence[Chunk], *, overlay: bool = False, redacted: bool = False
    ) -> None:
        """Delete every row of ``paths``, then add ``chunks`` (one batch; two table versions at most).

        Secrets are redacted from the chunks first (:mod:`indexer.secrets`) unless the caller says it has
        done so (``redacted``): nothing reaches the table unredacted."""
        if paths:
            self.delete_paths(paths)
        if chunks:
            if not redacted:
                chunks = redact_chunks(chunks)
            self._table.add(chunks_to_arrow(chunks, overlay=overlay))

    def delete_paths(self, paths: Collection[str]) -> None:
        if not paths:
            return
        self._table.delete(sql_in("path", sorted(set(paths))))

    def delete_where(self, predicate: str) -> None:
        self._table.delete(predicate)

    def paths(self) -> list[str]:
        """Every distinct path that has rows."""
        rows = self._table.search().select(["path"]).limit(self.count_rows() + 1).to_arrow()
        return sorted(set(rows.column("path").to_pylist()))

    def hashes(self, paths: Collection[str] | None = None) -> list[tuple[str, str]]:
        """(content_hash, path) of every row, or of the rows of ``paths``: what the embedder needs to see."""
        query = self._table.search()
        if paths is not None:
            if not paths:
                return []
            query = query.where(sql_in("path", sorted(set(paths))))
        rows = query.select(["content_hash", "path"]).limit(self.count_rows() + 1).to_arrow()
        return list(zip(rows.column("content_hash").to_pylist(), rows.column("path").to_pylist(), strict=True))

    def texts(self, hashes: Collection[str]) -> dict[str, str]:
        """The text of one chunk per content hash (hashes no row has any more are absent)."""
        if not hashes:
            return {}
        where = sql_in("content_hash", sorted(set(hashes)))
        query = self._table.search().where(where).select(["content_hash", "text"])
        rows = query.limit(self.count_rows() + 1).to_arrow()
        return dict(zip(rows.column("content_hash").to_pylist(), rows.column("text").to_pylist(), strict=True))

    def rows(self, paths: Collection[str]) -> pa.Table:
        """Every column of the rows of ``paths`` read from disk (never an unsaved-buffer overlay), in SCHEMA order."""
        where = f"{sql_in('path', sorted(set(paths)))} AND overlay = false"
        table = self._table.search().where(where).limit(self.count_rows() + 1).to_arrow()
        return table.select(SCHEMA.names).cast(SCHEMA)

    def overlay_paths(self) -> list[str]:
        """Paths that have overlay rows (unsaved buffers of an earlier session)."""
        rows = self._table.search().where("overlay = true").select(["path"]).limit(1_000_000).to_arrow()
        return sorted(set(rows.column("path").to_pylist()))

    def ensure_indexes(self) -> list[str]:
        """Create the indexes that are missing (none on an empty table); return the names created."""
        if self._table.count_rows() == 0:
            return []
        present = {index.name for index in self._table.list_indices()}
        created = []
        for name, (column, config) in INDEXES.items():
            if name in present:
                continue
            self._table.create_index(column, config=config(), name=name, replace=True)
            created.append(name)
        return created

    def optimize(self) -> None:
        """Compact fragments, fold new rows into the indexes, and drop versions older than the cleanup age."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._table.optimize(cleanup_older_than=self.cleanup_age)

    def reopen(self) -> None:
        """Drop this handle's connection and table for fresh ones. A connection caches the metadata and index
        pages of every version it has seen, and a writer makes new versions all day: kept for hours, the caches
        grew the worker by about 15 MB a minute under steady edits (measured, DESIGN.md). After a compaction the
        old versions are gone, so a new handle loses nothing but that garbage."""
        db = lancedb.connect(self.uri)
        self._table = db.open_table(TABLE_NAME)
        self._db = db

    def cleanup(self) -> None:
        """Drop versions older than the cleanup age. An optimize with nothing to compact (a few ms): the
        table's own ``cleanup_old_versions`` needs the separate ``pylance`` package."""
        self.optimize()

    # -- numbers ----------------------------------------------------------------------------------------
    def count_rows(self) -> int:
        return int(self._table.count_rows())

    def version(self) -> int:
        return int(self._table.version)

    def version_count(self) -> int:
        return len(self._table.list_versions())

    def fragment_count(self) -> int:
        return int(_fragment_count(self._table.stats()))

    def index_names(self) -> list[str]:
        return sorted(index.name for index in self._table.list_indices())


def _table_names(db: Any) -> list[str]:
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    names = getattr(listing, "tables", listing)
    return list(names)


def _validate(table: Any) -> None:
    names = set(table.schema.names)
    missing = set(SCHEMA.names) - names
    if missing:
        raise StoreError(f"the index table lacks columns {sorted(missing)} (written by another version?)")
    table.count_rows()
    table.search().select(["id", "path"]).limit(1).to_arrow()


def _fragment_count(stats: Any) -> int:
    fragment_stats = stats["fragment_stats"] if isinstance(stats, dict) else stats.fragment_stats
    if isinstance(fragment_stats, dict):
        return fragment_stats["num_fragments"]
    return fragment_stats.num_fragments
