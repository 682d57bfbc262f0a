"""The read side of the index: symbol lookups, full-text and vector search, rows of a file, statistics.

Callers (the completion engine, retrieval, ``srag-index query``) open an :class:`IndexReader` once and call
it from any thread. Every method is safe against a missing or damaged index: it logs and returns an empty
result instead of raising. Handles use ``read_consistency_interval=0`` so they see the worker's writes.
Vector search reads the vectors table of one embedding model (:mod:`indexer.vectors`): nearest content
hashes first, then the chunk rows that have those hashes (deleted or replaced chunks have none any more).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import lancedb

from indexer.chunk_table import HIT_COLUMNS, TABLE_NAME
from indexer.identifiers import split_identifier
from indexer.languages.base import DEFINITION_KINDS
from indexer.location import is_local, local_path
from indexer.manifest import ManifestError, load_manifest, manifest_path
from indexer.store import sql_in, sql_string
from indexer.vectors import TABLE_PREFIX, index_rows_of, model_id_of, nprobes_for, table_names

log = logging.getLogger(__name__)

_MAX_ROWS_PER_FILE = 100_000
_WORD = re.compile(r"[A-Za-z0-9]+")
_IDENTIFIER = re.compile(r"\w+")
_PART_HEADER = re.compile(r"\A[^\n]*\(part \d+ of [^\n]*\)[^\n]*\n")
VECTOR_TABLES_TTL_S = 5.0  # how long the list of vectors tables (asked at every retrieval) is reused
HANDLE_TTL_S = 60.0  # how long a table handle serves before a fresh one (its caches grow with each version)


def location_record(item: Any) -> dict[str, Any]:
    """The fields every JSON view of a chunk starts with: where it is and what it defines."""
    return {"path": item.path, "start_line": item.start_line, "end_line": item.end_line, "symbol": item.symbol,
            "kind": item.kind}


@dataclass(slots=True, frozen=True)
class Hit:
    """One chunk returned by a query, with a score (higher is better; its scale depends on the query)."""

    id: str
    path: str
    start_line: int
    end_line: int
    symbol: str
    qualified_name: str
    kind: str
    signature: str
    scope: str
    text: str
    language: str
    score: float = 0.0
    overlay: bool = False  # the row comes from an unsaved editor buffer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class IndexReader:
    """Read-only queries over one workspace index; thread-safe; never raises on a bad index."""

    def __init__(self, index_dir: str, table: Any, *, storage_options: dict[str, str] | None = None,
                 consistency_s: float = 0.0) -> None:
        self.index_dir = index_dir
        self._table = table
        self._storage = dict(storage_options or {})
        self._consistency_s = consistency_s
        self.last_failure: str | None = None  # the last query that failed twice, for callers that keep count
        self._opened_at = time.monotonic()
        self._lock = threading.Lock()  # guards re-opening the handle, not the queries themselves
        self._vector_tables: dict[str, Any] = {}  # model id -> open vectors table
        self._vector_models: dict[str, str] = {}  # model id -> table name (non-empty tables)
        self._vector_models_at = -VECTOR_TABLES_TTL_S
        self._index_rows: dict[str, tuple[float, int | None]] = {}  # model id -> (when read, IVF rows)

    @classmethod
    def open(cls, index_dir: str | Path) -> IndexReader | None:
        """A reader for the index at ``index_dir``; None (logged) when there is no usable index there."""
        uri = str(index_dir)
        if is_local(uri) and not (local_path(uri) / f"{TABLE_NAME}.lance").exists():
            log.info("no index at %s", uri)
            return None
        try:
            table = _open_table(uri)
        except Exception as exc:  # missing or damaged: the caller decides what to do
            log.warning("cannot open the index at %s: %s", uri, exc)
            return None
        return cls(uri, table)

    @classmethod
    def open_remote(cls, uri: str, storage_options: dict[str, str], consistency_s: float) -> IndexReader:
        """A reader of a shared index on object storage (raises what LanceDB raises: the caller explains it);
        it sees a newer version within ``consistency_s``."""
        table = _open_table(uri, storage_options, consistency_s)
        return cls(uri, table, storage_options=storage_options, consistency_s=consistency_s)

    def close(self) -> None:
        self._table = None
        self._vector_tables = {}

    def health(self) -> str | None:
        """None when the table answers a small scan and a lookup; otherwise what is wrong."""
        try:
            table = self._fresh_table()
            table.count_rows()
            table.search().select(["id", "path"]).limit(1).to_arrow()
            table.search().where("symbol = ''").select(["id"]).limit(1).to_arrow()
        except Exception as exc:
            return f"the index at {self.index_dir} is damaged ({exc})"
        return None

    # -- queries ------------------------------------------------------------------------------------------
    def symbols(self, names: list[str], k: int = 10) -> list[Hit]:
        """Chunks whose ``symbol`` or ``qualified_name`` is exactly one of ``names``.

        Ranked: a qualified-name match before a bare-name match, definitions before other chunks, unsaved
        buffers first, then non-test paths and shorter paths.
        """
        wanted = sorted({n for n in names if n})
        if not wanted or k <= 0:
            return []
        where = f"{sql_in('symbol', wanted)} OR {sql_in('qualified_name', wanted)}"
        rows = self._run("symbols", lambda t: t.search().where(where).select(HIT_COLUMNS).limit(max(k * 4, 50)))
        wanted_set = set(wanted)
        hits = _merge_parts([_hit(row, _symbol_score(row, wanted_set)) for row in rows])
        return rank_hits(hits)[:k]

    def symbol_prefix(self, prefix: str, k: int = 20) -> list[Hit]:
        """Definitions whose ``symbol`` starts with ``prefix`` (case-sensitive), shortest names first."""
        if not prefix or k <= 0:
            return []
        upper = _successor(prefix)
        where = f"symbol >= {sql_string(prefix)}" + (f" AND symbol < {sql_string(upper)}" if upper else "")
        limit = max(k * 4, 50)
        rows = self._run("symbol_prefix", lambda t: t.search().where(where).select(HIT_COLUMNS).limit(limit))
        hits = _merge_parts([_hit(row, 1.0 / (1 + len(row["symbol"]) - len(prefix))) for row in rows])
        return rank_hits(hits)[:k]

    def text_search(self, query: str, k: int = 10, *, field: str = "tokens") -> list[Hit]:
        """Full-text search (BM25) over the identifier sub-words of each chunk (``field="text"``: raw text)."""
        terms = _query_terms(query) if field == "tokens" else _WORD.findall(query)
        if not terms or k <= 0:
            return []
        text = " ".join(terms)
        rows = self._run(
            "text_search",
            lambda t: t.search(text, query_type="fts", fts_columns=field).select([*HIT_COLUMNS, "_score"]).limit(k),
        )
        return rank_by_score([_hit(row, float(row.get("_score") or 0.0)) for row in rows])[:k]

    # -- vectors ----------------------------------------------------------------------------------------
    def vector_models(self) -> list[str]:
        """Model ids that have vectors in this index (refreshed every few seconds; never raises)."""
        now = time.monotonic()
        if now - self._vector_models_at < VECTOR_TABLES_TTL_S:
            return sorted(self._vector_models)
        found: dict[str, str] = {}
        try:
            db = _connect(self.index_dir, self._storage, self._consistency_s)
            for name in table_names(db):
                if not name.startswith(TABLE_PREFIX):
                    continue
                table = db.open_table(name)
                model_id = model_id_of(table)
                if model_id and table.count_rows() > 0:
                    found[model_id] = name
        except Exception as exc:
            log.debug("listing vectors tables in %s failed: %s", self.index_dir, exc)
        self._vector_models, self._vector_models_at = found, now
        return sorted(found)

    def refresh_vectors(self) -> None:
        """Forget what is known of the vectors tables (their list, their indexes): the next query looks again."""
        self._vector_models_at = -VECTOR_TABLES_TTL_S
        self._index_rows.clear()

    def has_vectors(self, model_id: str | None = None) -> bool:
        """Whether the index has vectors of ``model_id`` (None: of any model)."""
        models = self.vector_models()
        return bool(models) if model_id is None else model_id in models

    def vector_search(self, vector: list[float], k: int = 10, *, model_id: str | None = None) -> list[Hit]:
        """Chunks whose text is nearest to ``vector`` (cosine; score = similarity, 1 is identical).

        ``model_id`` picks the vectors table (None: the only one there is). Chunks that share a text share a
        vector: each of them is a hit. Vectors no chunk uses any more are skipped.
        """
        if k <= 0 or not vector:
            return []
        models = self.vector_models()
        if model_id is None:
            if len(models) != 1:
                log.debug("vector search needs a model id: this index has vectors of %s", models or "no model")
                return []
            model_id = models[0]
        if model_id not in models:
            return []
        nearest = self._nearest(model_id, vector, k)
        if not nearest:
            return []
        where = sql_in("content_hash", list(nearest))
        columns = [*HIT_COLUMNS, "content_hash"]
        rows = self._run("vector_search", lambda t: t.search().where(where).select(columns).limit(k * 8 + 64))
        hits = [_hit(row, nearest[row["content_hash"]]) for row in rows if row["content_hash"] in nearest]
        hits.sort(key=lambda h: (not h.overlay, -h.score, _is_test_path(h.path), h.path, h.start_line))
        return hits[:k]

    def embedding_coverage(self, model_id: str) -> dict[str, int]:
        """How many distinct chunk texts have a vector of ``model_id``, and how many do not (for status)."""
        try:
            chunks = self._fresh_table()
            rows = chunks.count_rows()
            data = chunks.search().select(["content_hash"]).limit(rows + 1).to_arrow()
            texts = set(data.column("content_hash").to_pylist())
            table = self._vector_table(model_id)
            vector_rows = table.count_rows()
            stored = table.search().select(["content_hash"]).limit(vector_rows + 1).to_arrow()
            have = set(stored.column("content_hash").to_pylist())
        except Exception as exc:
            log.warning("counting the vectors of %s failed: %s", model_id, exc)
            return {}
        return {"embedded": len(texts & have), "embeddings_pending": len(texts - have), "vectors": vector_rows}

    def by_path(self, path: str) -> list[Hit]:
        """Every chunk of one workspace-relative file, in line order."""
        if not path:
            return []
        where = f"path = {sql_string(path)}"
        rows = self._run("by_path", lambda t: t.search().where(where).select(HIT_COLUMNS).limit(_MAX_ROWS_PER_FILE))
        hits = [_hit(row, 0.0) for row in rows]
        hits.sort(key=lambda h: (h.start_line, h.end_line))
        return hits

    def stats(self) -> dict[str, Any]:
        """Rows, versions, fragments and indexes of the table, and what the manifest records."""
        out: dict[str, Any] = {"index_dir": self.index_dir}
        try:
            table = self._fresh_table()
            table_stats = table.stats()
            fragments = table_stats["fragment_stats"] if isinstance(table_stats, dict) else table_stats.fragment_stats
            out["chunks"] = int(table.count_rows())
            out["overlay_chunks"] = int(table.count_rows("overlay = true"))
            out["versions"] = len(table.list_versions())
            out["version"] = int(table.version)
            out["fragments"] = int(
                fragments["num_fragments"] if isinstance(fragments, dict) else fragments.num_fragments
            )
            out["indexes"] = sorted(index.name for index in table.list_indices())
            out["bytes"] = int(table_stats["total_bytes"] if isinstance(table_stats, dict) else table_stats.total_bytes)
        except Exception as exc:
            log.warning("index stats failed for %s: %s", self.index_dir, exc)
            out["error"] = str(exc)
        self.refresh_vectors()
        vectors: dict[str, Any] = {}
        for model_id in self.vector_models():
            try:
                table = self._vector_table(model_id)
                index_rows = index_rows_of(index.name for index in table.list_indices())
                vectors[model_id] = {"rows": int(table.count_rows()), "ivf_index_rows": index_rows}
            except Exception as exc:
                vectors[model_id] = {"error": str(exc)}
        out["vectors"] = vectors
        if is_local(self.index_dir):
            try:
                manifest = load_manifest(manifest_path(local_path(self.index_dir)))
            except ManifestError as exc:
                out["manifest_error"] = str(exc)
                manifest = None
            if manifest is not None:
                out["files"] = len(manifest.files)
                out["initial_build_done"] = manifest.complete
                out["schema_version"] = manifest.schema_version
        return out

    # -- plumbing -------------------------------------------------------------------------------------
    def _fresh_table(self) -> Any:
        """The table handle, renewed every :data:`HANDLE_TTL_S`: a handle caches what it read of every version
        the writer makes, and grew about 14 MB a minute under steady queries and edits (DESIGN.md)."""
        table = self._table
        if table is None or time.monotonic() - self._opened_at > HANDLE_TTL_S:
            with self._lock:
                if self._table is None or time.monotonic() - self._opened_at > HANDLE_TTL_S:
                    self._table = _open_table(self.index_dir, self._storage, self._consistency_s)
                    self._opened_at = time.monotonic()
                table = self._table
        return table

    def _vector_table(self, model_id: str) -> Any:
        table = self._vector_tables.get(model_id)
        if table is None:
            name = self._vector_models.get(model_id)
            if name is None:
                raise LookupError(f"no vectors of {model_id} in {self.index_dir}")
            table = _connect(self.index_dir, self._storage, self._consistency_s).open_table(name)
            self._vector_tables[model_id] = table
        return table

    def _nearest(self, model_id: str, vector: list[float], k: int) -> dict[str, float]:
        """content hash -> cosine similarity of the nearest vectors (a few more than ``k``); {} on failure."""
        for attempt in (1, 2):
            try:
                table = self._vector_table(model_id)
                index_rows = self._ivf_rows(model_id, table)
                query = table.search(vector, vector_column_name="vector").distance_type("cosine")
                if index_rows is not None:
                    query = query.nprobes(nprobes_for(index_rows))
                rows = query.select(["content_hash", "_distance"]).limit(k * 2).to_arrow().to_pylist()
                return {row["content_hash"]: 1.0 - float(row["_distance"]) for row in rows}
            except Exception as exc:
                if attempt == 1:
                    self._vector_tables.pop(model_id, None)
                    continue
                log.warning("vector search on %s failed: %s", self.index_dir, exc)
        return {}

    def _ivf_rows(self, model_id: str, table: Any) -> int | None:
        """The rows the vector index was built on (how many partitions to probe), re-read every few seconds."""
        now = time.monotonic()
        cached = self._index_rows.get(model_id)
        if cached is not None and now - cached[0] < VECTOR_TABLES_TTL_S:
            return cached[1]
        rows = index_rows_of(index.name for index in table.list_indices())
        self._index_rows[model_id] = (now, rows)
        return rows

    def _run(self, what: str, build: Any) -> list[dict[str, Any]]:
        """Run a query; on failure re-open the handle once (a version may have been cleaned up), then give up."""
        for attempt in (1, 2):
            try:
                table = self._fresh_table()
                rows = build(table).to_arrow().to_pylist()
                self.last_failure = None
                return rows
            except Exception as exc:  # a bad index must not take the caller down
                if attempt == 1 and not self._storage:  # (a shared index's fault is storage: not retried at once)
                    log.debug("%s query failed (%s); re-opening %s", what, exc, self.index_dir)
                    with self._lock:
                        self._table = None
                    time.sleep(0.001)
                    continue
                self.last_failure = f"{what}: {exc}"
                if self._storage:  # a shared index: the caller (indexer.layered_query) says it once
                    log.debug("%s query on %s failed: %s", what, self.index_dir, exc)
                else:
                    log.warning("%s query on %s failed: %s", what, self.index_dir, exc)
        return []


def _connect(uri: str, storage_options: dict[str, str] | None, consistency_s: float) -> Any:
    """A connection that sees new versions within ``consistency_s`` (object storage: with its options)."""
    kwargs: dict[str, Any] = {"storage_options": storage_options} if storage_options else {}
    return lancedb.connect(uri, read_consistency_interval=timedelta(seconds=consistency_s), **kwargs)


def _open_table(uri: str, storage_options: dict[str, str] | None = None, consistency_s: float = 0.0) -> Any:
    return _connect(uri, storage_options, consistency_s).open_table(TABLE_NAME)


def _hit(row: dict[str, Any], score: float) -> Hit:
    return Hit(
        id=row["id"],
        path=row["path"],
        start_line=int(row["start_line"] or 0),
        end_line=int(row["end_line"] or 0),
        symbol=row["symbol"] or "",
        qualified_name=row["qualified_name"] or "",
        kind=row["kind"] or "",
        signature=row["signature"] or "",
        scope=row["scope"] or "",
        text=row["text"] or "",
        language=row["language"] or "",
        score=score,
        overlay=bool(row.get("overlay")),
    )


def _symbol_score(row: dict[str, Any], wanted: set[str]) -> float:
    score = 2.0 if row["qualified_name"] in wanted and row["qualified_name"] != row["symbol"] else 1.0
    if row["kind"] in DEFINITION_KINDS:
        score += 0.5
    return score


def _merge_parts(hits: list[Hit]) -> list[Hit]:
    """One hit per split definition: its parts (same file, name and kind) joined in line order."""
    merged: list[Hit] = []
    groups: dict[tuple[str, str, str, str, bool], list[Hit]] = {}
    for hit in hits:
        if hit.qualified_name and _PART_HEADER.match(hit.text):
            groups.setdefault((hit.path, hit.qualified_name, hit.symbol, hit.kind, hit.overlay), []).append(hit)
        else:
            merged.append(hit)
    for parts in groups.values():
        parts.sort(key=lambda h: h.start_line)
        text = "\n".join(_PART_HEADER.sub("", p.text, count=1) for p in parts)
        end_line = max(p.end_line for p in parts)
        merged.append(replace(parts[0], end_line=end_line, text=text, score=max(p.score for p in parts)))
    return merged


def _is_test_path(path: str) -> bool:
    parts = path.split("/")
    return any(p in ("test", "tests", "testing") or p.startswith("test_") for p in parts)


def rank_by_score(hits: list[Hit]) -> list[Hit]:
    """Unsaved buffers first, then by score alone (full-text and vector hits)."""
    hits.sort(key=lambda h: (not h.overlay, -h.score, h.path, h.start_line))
    return hits


def rank_hits(hits: list[Hit]) -> list[Hit]:
    hits.sort(key=lambda h: (not h.overlay, -h.score, _is_test_path(h.path), len(h.path), h.path, h.start_line))
    return hits


def _successor(prefix: str) -> str | None:
    """The smallest string greater than every string starting with ``prefix`` (None if there is none)."""
    chars = list(prefix)
    while chars:
        last = ord(chars[-1])
        if last < 0x10FFFF:
            chars[-1] = chr(last + 1)
            return "".join(chars)
        chars.pop()
    return None


def _query_terms(query: str) -> list[str]:
    """The query's words as the chunker writes ``tokens``: lowercase sub-words, plus each compound whole."""
    terms: dict[str, None] = {}
    for word in _IDENTIFIER.findall(query):
        parts = split_identifier(word)
        terms.update(dict.fromkeys(parts))
        whole = word.lower().strip("_")
        if whole and (len(parts) != 1 or parts[0] != whole):
            terms[word.lower()] = None
    return [t for t in terms if t]
