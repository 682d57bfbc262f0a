"""Background embedding in the index writer: keyed by content hash, freshness first, failures never fatal."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from indexer.query import IndexReader
from indexer.writer import IndexService, ServiceTuning
from tests.support.embedding import RecordingEmbedder, require_local_model
from tests.support.indexing import SHAPES_PY, small_workspace, wait_until
from tests.support.ollama_server import serve

TUNING = dict(watch=False, debounce_s=0.02, idle_optimize_s=0.2)


def _settled(service: IndexService, **expected: int) -> dict[str, Any]:
    """Wait until nothing is pending (indexing or embedding) and the counters have the expected values."""

    def check() -> dict[str, Any] | None:
        status = service.status()
        if status["pending"] or status["embeddings_pending"]:
            return None
        return status if all(status.get(k) == v for k, v in expected.items()) else None

    return wait_until(check, timeout=60)


def test_only_new_texts_are_embedded_across_restarts_edits_reverts_and_moves(tmp_path: Path) -> None:
    require_local_model()
    root = small_workspace(tmp_path / "ws")
    index_dir = str(tmp_path / "index")
    recorder = RecordingEmbedder()
    service = IndexService(root, index_dir, {}, tuning=ServiceTuning(**TUNING), embedder=recorder)
    service.start()
    try:
        assert service.wait_idle(120)
        status = _settled(service, embedded=12, embeddings_made=12)
        assert status["embedding_model"] == recorder.model_id and status["embedding_error"] is None
        assert len(set(recorder.take())) == 12
    finally:
        service.stop()

    # a restart with nothing changed embeds nothing
    service = IndexService(root, index_dir, {}, tuning=ServiceTuning(**TUNING), embedder=recorder)
    service.start()
    try:
        assert service.wait_idle(120)
        _settled(service, embedded=12, vectors=12)
        assert recorder.take() == []

        # editing one function embeds that chunk only
        edited = SHAPES_PY.replace("return Circle(1.0)", "return Circle(2.0)")
        (root / "shapes.py").write_text(edited)
        service.file_changed(["shapes.py"])
        _settled(service, embeddings_made=1, embeddings_reused=4)  # the file's 4 other chunks kept theirs
        assert recorder.take() == ["def unit_circle() -> Circle:\n    return Circle(2.0)"]

        # a revert finds its old vector
        (root / "shapes.py").write_text(SHAPES_PY)
        service.file_changed(["shapes.py"])
        _settled(service, embeddings_made=1, embeddings_reused=9)

        # so does code that moved to another file
        (root / "net" / "parser.py").rename(root / "net" / "http_parser.py")
        service.file_changed(["net/parser.py", "net/http_parser.py"])
        status = _settled(service, embeddings_made=1, embeddings_reused=12)
        assert recorder.take() == []
        assert status["vectors"] == 13  # the edited text's vector is kept (pruning waits for 2x the chunks)
    finally:
        service.stop()
    reader = IndexReader.open(index_dir)
    assert reader is not None
    hits = reader.vector_search(recorder.embed_query("parse an HTTP response"), 2, model_id=recorder.model_id)
    assert hits[0].path == "net/http_parser.py" and hits[0].symbol == "parse_http_response"


def test_file_changes_are_indexed_while_a_backlog_is_embedded(tmp_path: Path) -> None:
    require_local_model()
    root = tmp_path / "ws"
    root.mkdir()
    for i in range(8):
        body = "\n\n".join(f"def helper_{i}_{j}(value):\n    return value * {j} + {i}\n" for j in range(15))
        (root / f"mod{i}.py").write_text(body)
    recorder = RecordingEmbedder()
    recorder.batch_size = 4
    service = IndexService(root, str(tmp_path / "index"), {}, tuning=ServiceTuning(**TUNING), embedder=recorder)
    service.start()
    try:
        assert service.wait_idle(120)
        wait_until(lambda: service.status()["embeddings_made"] > 0)
        reader = IndexReader.open(str(tmp_path / "index"))
        assert reader is not None
        (root / "fresh.py").write_text("def freshly_saved_function():\n    return 1\n")
        service.file_changed(["fresh.py"])
        wait_until(lambda: reader.symbols(["freshly_saved_function"], 1), timeout=30)
        assert service.status()["embeddings_pending"] > 0  # searchable before the backlog is done
        _settled(service, embedded=121)
    finally:
        service.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_dead_ollama_leaves_indexing_and_queries_working(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    events: list[dict[str, Any]] = []
    settings = {"embeddings": "ollama", "ollama_host": f"http://127.0.0.1:{_closed_port()}", "embedding_model": "m"}
    tuning = ServiceTuning(**TUNING, embed_backoff_s=(0.2, 0.5))
    service = IndexService(root, str(tmp_path / "index"), settings, emit=events.append, tuning=tuning)
    service.start()
    try:
        assert service.wait_idle(120)
        status = wait_until(lambda: service.status() if service.status()["embedding_error"] else None)
        assert "is not answering" in status["embedding_error"] and status["last_error"] is None
        assert status["embedding_model"] == "ollama:m" and status["embedded"] == 0
        assert any(e["type"] == "error" and "not answering" in e["message"] for e in events)
        reader = IndexReader.open(str(tmp_path / "index"))
        assert reader is not None
        assert reader.symbols(["Circle"], 1)[0].path == "shapes.py"
        assert reader.text_search("http response", 1)[0].path == "net/parser.py"
        (root / "more.py").write_text("def added_while_ollama_is_down():\n    return 2\n")
        service.file_changed(["more.py"])
        wait_until(lambda: reader.symbols(["added_while_ollama_is_down"], 1))
        assert not reader.has_vectors()
    finally:
        service.stop()
    errors = [e for e in events if e["type"] == "error"]
    assert len(errors) == 1  # each distinct message once, not once per retry


def test_an_erroring_ollama_is_retried_until_it_answers(tmp_path: Path) -> None:
    require_local_model()
    root = small_workspace(tmp_path / "ws")
    with serve([], fault="embed_error", embed_models=["all-minilm"]) as (url, state):
        settings = {"embeddings": "ollama", "ollama_host": url, "embedding_model": "all-minilm"}
        tuning = ServiceTuning(**TUNING, embed_backoff_s=(0.2, 0.4))
        service = IndexService(root, str(tmp_path / "index"), settings, tuning=tuning)
        service.start()
        try:
            assert service.wait_idle(120)
            wait_until(lambda: "runner process has terminated" in (service.status()["embedding_error"] or ""))
            assert service.status()["embedded"] == 0
            state.fault = ""
            status = _settled(service, embedded=12)
            assert status["embedding_error"] is None and state.embedded_texts == 12
        finally:
            service.stop()


def test_a_missing_tokenizer_turns_embeddings_off_and_indexing_goes_on(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    events: list[dict[str, Any]] = []
    settings = {"embeddings": "local", "model_dir": str(tmp_path / "no-models")}
    service = IndexService(root, str(tmp_path / "index"), settings, emit=events.append, tuning=ServiceTuning(**TUNING))
    service.start()
    try:
        assert service.wait_idle(120)
        status = service.status()
        assert status["embeddings"] == "local" and status["files"] == 3
        assert status["embedding_error"].startswith("embeddings are off: ")
        assert "srag-lsp models all-minilm-l6-v2" in status["embedding_error"] or "pip install" in status[
            "embedding_error"]
        assert any(e["type"] == "error" and "embeddings are off" in e["message"] for e in events)
        reader = IndexReader.open(str(tmp_path / "index"))
        assert reader is not None and reader.symbols(["Circle"], 1)
    finally:
        service.stop()


@pytest.mark.parametrize("mode", ["sometimes", 3])
def test_a_bad_embeddings_setting_is_reported(tmp_path: Path, mode: Any) -> None:
    root = small_workspace(tmp_path / "ws")
    service = IndexService(root, str(tmp_path / "index"), {"embeddings": mode}, tuning=ServiceTuning(**TUNING))
    service.start()
    try:
        assert service.wait_idle(120)
        assert "embeddings must be one of off, local, ollama" in service.status()["embedding_error"]
        assert service.status()["files"] == 3
    finally:
        service.stop()


def test_unused_vectors_are_pruned_once_they_outnumber_the_chunks_two_to_one(tmp_path: Path) -> None:
    require_local_model()
    from indexer.builder import IndexBuilder
    from indexer.embedding.background import BackgroundEmbedder
    from indexer.opening import open_index
    from indexer.vectors import VectorStore

    root = small_workspace(tmp_path / "ws")
    index_dir = str(tmp_path / "index")
    opened = open_index(index_dir)
    builder = IndexBuilder(root, opened)
    builder.build()
    recorder = RecordingEmbedder()
    vectors = VectorStore(index_dir, recorder.model_id)
    queue = BackgroundEmbedder(recorder, lambda: opened.store, vectors, prune_min_rows=10)
    assert queue.run_until_done() and vectors.count_rows() == 12
    counts = []
    for i in range(13):  # 13 more versions of one function: texts no chunk uses once the next one is saved
        (root / "shapes.py").write_text(SHAPES_PY.replace("Circle(1.0)", f"Circle({i + 2}.0)"))
        builder.update(["shapes.py"])
        queue.note_paths(["shapes.py"])
        assert queue.run_until_done()  # which ends with the upkeep
        counts.append(vectors.count_rows())
    assert counts[:12] == list(range(13, 25))  # up to 2 x 12 chunk texts, unused vectors are kept
    assert counts[12] == 12 and queue.last_maintenance == "pruned 13 unused vectors"  # 25 > 24: pruned
    assert queue.status()["embedded"] == 12 and vectors.hashes() == {h for h, _ in opened.store.hashes()}
    recorder.take()
    (root / "shapes.py").write_text(SHAPES_PY)  # the original text's vector was pruned too: embedded again
    builder.update(["shapes.py"])
    queue.note_paths(["shapes.py"])
    assert queue.run_until_done() and recorder.take() == ["def unit_circle() -> Circle:\n    return Circle(1.0)"]
