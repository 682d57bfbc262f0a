"""The vectors tables: one per embedding model, a vector per distinct chunk text, keyed by content hash.

A chunk's ``content_hash`` (sha1 of its text) is the key, so code that is re-chunked, moved, copied or
reverted finds its vector already there and is never embedded twice. Each model id (see
:mod:`indexer.embedding`) gets its own table ``vectors_<slug>`` (the id itself is in the schema's metadata):
different models never mix, their lengths may differ, and switching back to a model finds its vectors.
Rows: ``content_hash`` (string) and ``vector`` (fixed-size list of float32, unit length).

Searching: brute force below :data:`IVF_MIN_ROWS` (a few ms); from there an IVF_FLAT index with about
sqrt(n) partitions (built in well under a second; HNSW and PQ are slow to build on 2 cores), rebuilt when the
table has grown to :data:`IVF_REBUILD_GROWTH` times the rows it was built on (``optimize`` folds new rows
into the existing partitions in between). The index's name records the row count it was built on
(``vector_ivf_n<rows>``), which also tells a reader how many partitions to probe. Only the writer (the
indexer worker, or ``srag-index build``) writes these tables; :mod:`indexer.query` reads them.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import IvfFlat

from indexer.store import DEFAULT_CLEANUP_AGE, sql_in

log = logging.getLogger(__name__)

TABLE_PREFIX = "vectors_"
INDEX_PREFIX = "vector_ivf_n"
IVF_MIN_ROWS = 5000
IVF_REBUILD_GROWTH = 2.0
METADATA_KEY = b"model_id"
_DELETE_BATCH = 500
_SLUG = re.compile(r"[^a-z0-9]+")


def table_name(model_id: str) -> str:
    """``vectors_<readable slug>_<8 hex of the id's sha1>``: a valid table name, unique per model id."""
    slug = _SLUG.sub("_", model_id.lower()).strip("_")[:40]
    return f"{TABLE_PREFIX}{slug}_{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


def vector_schema(model_id: str, dim: int) -> pa.Schema:
    return pa.schema(
        [pa.field("content_hash", pa.string(), nullable=False), pa.field("vector", pa.list_(pa.float32(), dim))],
        metadata={METADATA_KEY: model_id.encode()},
    )


def model_id_of(table: Any) -> str | None:
    """The model id a vectors table was written for (from its schema metadata)."""
    metadata = table.schema.metadata or {}
    raw = metadata.get(METADATA_KEY)
    return raw.decode() if raw else None


def partitions_for(rows: int) -> int:
    return max(1, round(math.sqrt(rows)))


def nprobes_for(index_rows: int) -> int:
    """Partitions to probe: 24 at least, a quarter of them on large tables. Measured on 5,000 real vectors
    (71 partitions): recall@10 0.85 with 8 probes, 0.93 with 16, 0.96 with 24, at the same 4 to 5 ms."""
    return max(24, partitions_for(index_rows) // 4)


def index_rows_of(names: Iterable[str]) -> int | None:
    """The row count the table's IVF index was built on, from its name; None when there is no index."""
    for name in names:
        if name.startswith(INDEX_PREFIX):
            try:
                return int(name[len(INDEX_PREFIX) :])
            except ValueError:
                continue
    return None


def table_names(db: Any) -> list[str]:
    listing = db.list_tables() if hasattr(db, "list_tables") else db.table_names()
    return list(getattr(listing, "tables", listing))


class VectorStore:
    """The writer's handle on one model's vectors table (created at the first write, when the length is known)."""

    def __init__(self, uri: str, model_id: str, *, cleanup_age: timedelta = DEFAULT_CLEANUP_AGE,
                 db: Any = None) -> None:
        if cleanup_age <= timedelta(0):
            raise ValueError("cleanup_age must be positive: a zero age breaks concurrent readers")
        self.uri = uri
        self.model_id = model_id
        self.name = table_name(model_id)
        self.cleanup_age = cleanup_age
        self._db = db if db is not None else lancedb.connect(uri)  # a connection with storage options (shared)
        self._table: Any = self._db.open_table(self.name) if self.name in table_names(self._db) else None
        if self._table is not None:
            found = model_id_of(self._table)
            if found not in (None, model_id):
                raise ValueError(f"table {self.name} holds vectors of {found}, not {model_id}")
        self.writes_since_optimize = 0

    @property
    def dim(self) -> int | None:
        if self._table is None:
            return None
        return int(self._table.schema.field("vector").type.list_size)

    def hashes(self) -> set[str]:
        """Every content hash that has a vector."""
        if self._table is None:
            return set()
        rows = self._table.count_rows()
        if rows == 0:
            return set()
        data = self._table.search().select(["content_hash"]).limit(rows + 1).to_arrow()
        return set(data.column("content_hash").to_pylist())

    def add(self, hashes: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        """Append vectors (one table version); the table is created at the first call."""
        if len(hashes) != len(vectors):
            raise ValueError(f"{len(hashes)} hashes for {len(vectors)} vectors")
        if not hashes:
            return
        lengths = {len(v) for v in vectors}
        if len(lengths) != 1:
            raise ValueError(f"vectors of different lengths {sorted(lengths)}")
        dim = lengths.pop()
        if self._table is None:
            self._table = self._db.create_table(self.name, schema=vector_schema(self.model_id, dim), exist_ok=True)
        if dim != self.dim:
            raise ValueError(f"vectors of length {dim} do not fit {self.name} (length {self.dim})")
        flat = pa.array(np.asarray(vectors, dtype=np.float32).reshape(-1), type=pa.float32())
        batch = pa.Table.from_arrays(
            [pa.array(list(hashes), type=pa.string()), pa.FixedSizeListArray.from_arrays(flat, dim)],
            schema=self._table.schema,
        )
        self._table.add(batch)
        self.writes_since_optimize += 1

    def add_rows(self, rows: pa.Table) -> None:
        """Append rows of another vectors table of the same model (a publish to the shared index)."""
        if rows.num_rows == 0:
            return
        dim = int(rows.schema.field("vector").type.list_size)
        if self._table is None:
            self._table = self._db.create_table(self.name, schema=vector_schema(self.model_id, dim), exist_ok=True)
        if dim != self.dim:
            raise ValueError(f"vectors of length {dim} do not fit {self.name} (length {self.dim})")
        self._table.add(rows.select(["content_hash", "vector"]).cast(self._table.schema))
        self.writes_since_optimize += 1

    def delete_hashes(self, hashes: Iterable[str]) -> int:
        todo = sorted(set(hashes))
        if self._table is None or not todo:
            return 0
        for start in range(0, len(todo), _DELETE_BATCH):
            self._table.delete(sql_in("content_hash", todo[start : start + _DELETE_BATCH]))
        self.writes_since_optimize += 1
        return len(todo)

    def count_rows(self) -> int:
        return 0 if self._table is None else int(self._table.count_rows())

    def index_rows(self) -> int | None:
        if self._table is None:
            return None
        return index_rows_of(index.name for index in self._table.list_indices())

    def ensure_index(self, min_rows: int = IVF_MIN_ROWS, growth: float = IVF_REBUILD_GROWTH) -> str | None:
        """Build the IVF index once the table is big enough, rebuild it when the table has grown a lot;
        return what was done (for the log), or None."""
        rows = self.count_rows()
        if self._table is None or rows < min_rows:
            return None
        built_on = self.index_rows()
        if built_on is not None and rows < built_on * growth:
            return None
        old = [i.name for i in self._table.list_indices() if i.name.startswith(INDEX_PREFIX)]
        name = f"{INDEX_PREFIX}{rows}"
        config = IvfFlat(distance_type="cosine", num_partitions=partitions_for(rows))
        for stale in old:  # one vector index per column: drop the old one, queries go brute force meanwhile
            self._table.drop_index(stale)
        self._table.create_index("vector", config=config, name=name, replace=True)
        return f"{'rebuilt' if old else 'built'} the vector index ({partitions_for(rows)} partitions, {rows} rows)"

    def optimize(self) -> None:
        """Compact, fold new rows into the vector index, drop versions older than the cleanup age."""
        if self._table is None:
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._table.optimize(cleanup_older_than=self.cleanup_age)
        self.writes_since_optimize = 0
