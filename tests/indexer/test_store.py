"""The LanceDB store and the read API over it: real tables on disk, real indexes, real concurrent handles."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from indexer import query
from indexer.opening import open_index
from indexer.query import IndexReader
from indexer.store import ChunkStore, StoreError
from tests.support.indexing import GREETING_JS, PARSER_PY, SHAPES_PY, chunks_of
from tests.support.waiting import wait_until


@pytest.fixture
def store(tmp_path: Path) -> ChunkStore:
    return ChunkStore.open(str(tmp_path / "index"))


def _fill(store: ChunkStore) -> None:
    store.replace([], chunks_of("shapes.py", SHAPES_PY) + chunks_of("web/greeting.js", GREETING_JS))
    store.replace([], chunks_of("net/parser.py", PARSER_PY))


def test_index_folder_is_private(tmp_path: Path) -> None:
    ChunkStore.open(str(tmp_path / "deep" / "index"))
    assert (tmp_path / "deep" / "index").stat().st_mode & 0o777 == 0o700


def test_write_replace_delete(store: ChunkStore) -> None:
    _fill(store)
    reader = IndexReader.open(store.uri)
    assert reader is not None
    before = {h.qualified_name for h in reader.by_path("shapes.py")}
    assert {"Circle", "Circle.area", "unit_circle"} <= before

    edited = SHAPES_PY.replace("def unit_circle()", "def make_unit_circle()")
    store.replace(["shapes.py"], chunks_of("shapes.py", edited))
    after = {h.qualified_name for h in reader.by_path("shapes.py")}
    assert "make_unit_circle" in after and "unit_circle" not in after
    assert len(reader.by_path("shapes.py")) == len(chunks_of("shapes.py", edited))  # old rows gone, no duplicates

    store.delete_paths(["shapes.py"])
    assert reader.by_path("shapes.py") == []
    assert reader.by_path("net/parser.py")  # other files untouched


def test_fresh_handles_after_a_compaction_see_and_write_the_same_table(store: ChunkStore) -> None:
    """The writer takes new handles after each compaction (their caches would otherwise grow all day)."""
    _fill(store)
    store.ensure_indexes()
    store.optimize()
    rows, version = store.count_rows(), store.version()
    old = store._table
    store.reopen()
    assert store._table is not old
    assert (store.count_rows(), store.version()) == (rows, version)
    assert store.index_names() == sorted(["tokens_idx", "text_idx", "symbol_idx", "qualified_name_idx", "path_idx",
                                          "content_hash_idx"])
    store.replace(["shapes.py"], chunks_of("shapes.py", SHAPES_PY.replace("unit_circle", "unit_disc")))
    reader = IndexReader.open(store.uri)
    assert reader is not None
    assert "unit_disc" in {h.qualified_name for h in reader.by_path("shapes.py")}


def test_symbol_lookup_uses_the_btree_index(store: ChunkStore) -> None:
    _fill(store)
    created = store.ensure_indexes()
    assert {"symbol_idx", "qualified_name_idx", "path_idx", "tokens_idx", "text_idx"} <= set(created)
    reader = IndexReader.open(store.uri)
    assert reader is not None
    hits = reader.symbols(["Circle"], k=5)
    assert hits[0].path == "shapes.py" and hits[0].kind == "class"
    assert (hits[0].start_line, hits[0].end_line) == (6, 13)
    by_qualified = reader.symbols(["Circle.area"], k=5)
    assert [h.symbol for h in by_qualified] == ["area"]
    plan = store._table.search().where("symbol = 'Circle'").select(["path"]).limit(5).explain_plan(True)
    assert "ScalarIndexQuery" in plan and "symbol_idx" in plan


def test_symbol_prefix_and_sql_quoting(store: ChunkStore) -> None:
    _fill(store)
    store.ensure_indexes()
    reader = IndexReader.open(store.uri)
    assert reader is not None
    names = [h.symbol for h in reader.symbol_prefix("greet", k=10)]
    assert names[0] == "greet" and "greetUser" in names
    assert reader.symbol_prefix("Circ", k=3)[0].symbol == "Circle"
    assert reader.symbols(["it's'; DROP"], k=3) == []  # quotes are escaped, not executed


def test_full_text_search_on_identifier_subwords(store: ChunkStore) -> None:
    _fill(store)
    store.ensure_indexes()
    # rows added after the index was built are searched too (unindexed fragments)
    store.replace([], chunks_of("late.py", "def late_http_handler():\n    return parse_http_response(b'')\n"))
    reader = IndexReader.open(store.uri)
    assert reader is not None
    paths = [h.path for h in reader.text_search("HttpResponse", k=5)]
    assert paths[0] == "net/parser.py"
    assert "late.py" in paths
    assert all(h.score > 0 for h in reader.text_search("http", k=5))
    assert reader.text_search("   ", k=5) == []


def test_a_reader_sees_later_writes(store: ChunkStore) -> None:
    reader = IndexReader.open(store.uri)  # opened on an empty table
    assert reader is not None and reader.symbols(["Circle"], 5) == []
    _fill(store)
    assert [h.path for h in reader.symbols(["Circle"], 5)] == ["shapes.py"]
    store.delete_paths(["shapes.py"])
    assert reader.symbols(["Circle"], 5) == []


def test_a_reader_renews_its_handle_and_keeps_answering(store: ChunkStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """A reader's handle is replaced once it is older than HANDLE_TTL_S (its caches grow with every version)."""
    _fill(store)
    reader = IndexReader.open(store.uri)
    assert reader is not None
    first = reader._fresh_table()
    assert reader._fresh_table() is first  # young: kept
    monkeypatch.setattr(query, "HANDLE_TTL_S", 0.0)
    wait_until(lambda: time.monotonic() > reader._opened_at, 5, "the clock to move past the handle's opening")
    assert reader._fresh_table() is not first
    store.replace(["shapes.py"], chunks_of("shapes.py", SHAPES_PY.replace("unit_circle", "unit_disc")))
    assert "unit_disc" in {h.qualified_name for h in reader.by_path("shapes.py")}
    assert [h.path for h in reader.symbols(["Circle"], 5)] == ["shapes.py"]


def test_compaction_keeps_readers_working_and_versions_bounded(tmp_path: Path) -> None:
    store = ChunkStore.open(str(tmp_path / "index"), cleanup_age=timedelta(seconds=1))
    _fill(store)
    store.ensure_indexes()
    reader = IndexReader.open(store.uri)
    assert reader is not None
    stop = threading.Event()
    failures: list[str] = []
    queries = 0

    def read() -> None:
        nonlocal queries
        while not stop.is_set():
            # net/parser.py is never rewritten: it must always be found, before, during and after compaction
            if [h.path for h in reader.symbols(["ResponseParser"], 3)] != ["net/parser.py"]:
                failures.append("symbol lookup lost a row")
            if not reader.text_search("parse http", 3):
                failures.append("full-text search lost its rows")
            queries += 1

    thread = threading.Thread(target=read)
    thread.start()
    try:
        for round_ in range(4):
            for i in range(10):
                text = SHAPES_PY + f"\n\ndef extra_{round_}_{i}():\n    return {i}\n"
                store.replace(["shapes.py"], chunks_of("shapes.py", text))
            newest = max(v["timestamp"] for v in store._table.list_versions())
            wait_until(lambda newest=newest: datetime.now() - newest > store.cleanup_age, 30,
                       "this round's versions to age past the cleanup age")
            store.optimize()
    finally:
        stop.set()
        thread.join()
    assert failures == []
    assert queries > 10
    assert store.version_count() < 10  # 80+ versions were written; only the recent ones are left
    assert store.fragment_count() <= 2


def test_cleanup_age_of_zero_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cleanup_age"):
        ChunkStore.open(str(tmp_path / "index"), cleanup_age=timedelta(0))


def _corrupt_table(index_dir: Path) -> None:
    versions = index_dir / "chunks.lance" / "_versions"
    for manifest in versions.iterdir():
        manifest.write_bytes(b"\x00garbage" * 16)


def test_a_damaged_table_is_reported_and_rebuilt(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    store = ChunkStore.open(str(index_dir))
    _fill(store)
    _corrupt_table(index_dir)

    with pytest.raises(StoreError):
        ChunkStore.open(str(index_dir))
    reader = IndexReader.open(str(index_dir))
    if reader is not None:  # opening may succeed lazily; queries must not raise
        assert reader.health() is not None
        assert reader.symbols(["Circle"], 3) == []
        assert reader.text_search("circle", 3) == []

    opened = open_index(str(index_dir))
    assert opened.rebuilt is not None and "unusable" in opened.rebuilt
    assert opened.store.count_rows() == 0
    opened.store.replace([], chunks_of("shapes.py", SHAPES_PY))
    fresh = IndexReader.open(str(index_dir))
    assert fresh is not None and [h.path for h in fresh.symbols(["Circle"], 3)] == ["shapes.py"]


def test_reader_on_a_missing_index(tmp_path: Path) -> None:
    assert IndexReader.open(str(tmp_path / "nothing-here")) is None
