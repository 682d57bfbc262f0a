"""The vectors tables: keyed by content hash, one per model, joined to chunk rows by the reader, IVF when big."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from indexer.builder import IndexBuilder
from indexer.opening import open_index
from indexer.query import IndexReader
from indexer.vectors import INDEX_PREFIX, VectorStore, nprobes_for, table_name
from tests.support.indexing import small_workspace

MODEL = "test:random-16"


def _unit(rng: random.Random, dim: int = 16) -> list[float]:
    vector = [rng.gauss(0.0, 1.0) for _ in range(dim)]
    norm = sum(x * x for x in vector) ** 0.5
    return [x / norm for x in vector]


@pytest.fixture
def index(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """An index of the small workspace; returns (index dir, content hash -> qualified name)."""
    root = small_workspace(tmp_path / "ws")
    index_dir = str(tmp_path / "index")
    opened = open_index(index_dir)
    IndexBuilder(root, opened).build()
    reader = IndexReader.open(index_dir)
    assert reader is not None
    names = {
        hashlib.sha1(hit.text.encode()).hexdigest(): hit.qualified_name or "<module>"
        for path in ("shapes.py", "net/parser.py", "web/greeting.js")
        for hit in reader.by_path(path)
    }
    assert set(names) == {h for h, _ in opened.store.hashes()}  # the key is the sha1 of the text
    return index_dir, names


def test_table_names_are_distinct_per_model_and_valid() -> None:
    a, b = table_name("ollama:nomic-embed-text"), table_name("ollama:nomic_embed_text")
    assert a != b and a.startswith("vectors_ollama_nomic_embed_text_")
    assert table_name("local:all-minilm-l6-v2-int8-t128") == table_name("local:all-minilm-l6-v2-int8-t128")
    assert all(c.isalnum() or c == "_" for c in a)


def test_vectors_are_stored_by_hash_and_checked_for_length(tmp_path: Path) -> None:
    store = VectorStore(str(tmp_path / "index"), MODEL)
    assert store.count_rows() == 0 and store.hashes() == set() and store.dim is None
    rng = random.Random(1)
    store.add(["h1", "h2"], [_unit(rng), _unit(rng)])
    assert store.hashes() == {"h1", "h2"} and store.dim == 16
    with pytest.raises(ValueError, match="do not fit"):
        store.add(["h3"], [_unit(rng, 8)])
    with pytest.raises(ValueError, match="2 hashes for 1 vectors"):
        store.add(["h3", "h4"], [_unit(rng)])
    assert store.delete_hashes(["h1", "nope"]) == 2
    assert store.hashes() == {"h2"}
    again = VectorStore(str(tmp_path / "index"), MODEL)  # reopened: the same table
    assert again.hashes() == {"h2"}


def test_vector_search_joins_hashes_to_chunks_and_skips_unused_vectors(index: tuple[str, dict[str, str]]) -> None:
    index_dir, names = index
    rng = random.Random(2)
    vectors = {h: _unit(rng) for h in names}
    orphan = _unit(rng)  # a vector whose text no chunk has any more
    store = VectorStore(index_dir, MODEL)
    store.add([*vectors, "gone"], [*vectors.values(), orphan])
    reader = IndexReader.open(index_dir)
    assert reader is not None
    assert reader.has_vectors(MODEL) and reader.has_vectors() and not reader.has_vectors("test:other")
    area_hash = next(h for h, name in names.items() if name == "Circle.area")
    hits = reader.vector_search(vectors[area_hash], k=3, model_id=MODEL)
    assert hits[0].qualified_name == "Circle.area" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[0].score > hits[1].score
    near_orphan = reader.vector_search(orphan, k=len(names) + 1)  # the only model: no id needed
    assert len(near_orphan) == len(names)  # every chunk, and nothing for the orphan's hash
    assert reader.vector_search(vectors[area_hash], k=3, model_id="test:other") == []
    assert reader.vector_search([0.5] * 3, k=3, model_id=MODEL) == []  # wrong length: logged, empty
    assert reader.stats()["vectors"] == {MODEL: {"rows": len(names) + 1, "ivf_index_rows": None}}
    coverage = reader.embedding_coverage(MODEL)
    assert coverage == {"embedded": len(names), "embeddings_pending": 0, "vectors": len(names) + 1}


def test_the_ivf_index_is_built_when_big_enough_and_rebuilt_after_growth(tmp_path: Path) -> None:
    index_dir = str(tmp_path / "index")
    rng = random.Random(3)
    store = VectorStore(index_dir, MODEL)
    first = [_unit(rng) for _ in range(300)]
    store.add([f"h{i}" for i in range(300)], first)
    assert store.ensure_index(min_rows=400) is None
    store.add([f"h{i}" for i in range(300, 400)], [_unit(rng) for _ in range(100)])
    assert "built the vector index (20 partitions, 400 rows)" == store.ensure_index(min_rows=400)
    assert store.index_rows() == 400
    store.add([f"h{i}" for i in range(400, 700)], [_unit(rng) for _ in range(300)])
    assert store.ensure_index(min_rows=400) is None  # 700 < 2 x 400: optimize folds the new rows in
    store.optimize()
    store.add([f"h{i}" for i in range(700, 800)], [_unit(rng) for _ in range(100)])
    assert store.ensure_index(min_rows=400) == "rebuilt the vector index (28 partitions, 800 rows)"
    assert store.index_rows() == 800
    indexes = [i.name for i in store._table.list_indices()]
    assert indexes == [f"{INDEX_PREFIX}800"]
    assert nprobes_for(800) == 24 and nprobes_for(65_000) == 63


def test_a_table_of_another_model_is_refused(tmp_path: Path) -> None:
    import lancedb

    from indexer.vectors import vector_schema

    db = lancedb.connect(str(tmp_path / "index"))
    db.create_table(table_name(MODEL), schema=vector_schema("test:impostor", 16))
    with pytest.raises(ValueError, match="holds vectors of test:impostor"):
        VectorStore(str(tmp_path / "index"), MODEL)
