"""The runtime's wiring of embeddings: the worker gets the settings, retrieval's vector source the embedder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsprotocol import types

from indexer.embedding.onnx import LOCAL_MODEL_ID
from srag_lsp.runtime import Runtime
from srag_lsp.settings import Settings
from tests.support.embedding import require_local_model


def _runtime(tmp_path: Path, reports: list[tuple[str, Any]], **settings: Any) -> Runtime:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "a.py").write_text("def a():\n    return 1\n")
    base = Settings(index_enabled=False, trace=False, cache_dir=str(tmp_path / "cache"), **settings)
    return Runtime(base, root.resolve(), report=lambda message, kind: reports.append((message, kind)))


def _vector_source(runtime: Runtime) -> Any:
    assert runtime.retrieval is not None
    retriever = runtime.retrieval.retriever
    return next(source for source in retriever.sources if source.name == "vector")


async def test_embeddings_on_give_the_vector_source_the_workers_model(tmp_path: Path) -> None:
    require_local_model()
    reports: list[tuple[str, Any]] = []
    runtime = _runtime(tmp_path, reports, embeddings="local")
    try:
        runtime.start_vector_source()
        assert runtime.embedder is not None and runtime.embedder.model_id == LOCAL_MODEL_ID
        assert _vector_source(runtime).embedder is runtime.embedder
        assert runtime.index is not None
        sent = runtime.index.worker_settings()
        assert sent["embeddings"] == "local" and sent["model_dir"] == runtime.settings.model_dir
        assert not [m for m, kind in reports if kind == types.MessageType.Warning]
    finally:
        await runtime.close()


async def test_embeddings_off_leave_the_vector_source_off(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, [])
    try:
        runtime.start_vector_source()
        assert runtime.embedder is None and _vector_source(runtime).embedder is None
        assert runtime.index is not None and runtime.index.worker_settings()["embeddings"] == "off"
    finally:
        await runtime.close()


async def test_a_missing_local_model_is_reported_and_retrieval_goes_on(tmp_path: Path) -> None:
    reports: list[tuple[str, Any]] = []
    runtime = _runtime(tmp_path, reports, embeddings="local", model_dir=str(tmp_path / "no-models"))
    try:
        runtime.start_vector_source()
        warnings = [m for m, kind in reports if kind == types.MessageType.Warning]
        assert len(warnings) == 1 and warnings[0].startswith("srag-lsp: embeddings are off: ")
        assert "srag-lsp models all-minilm-l6-v2" in warnings[0] or "pip install" in warnings[0]
        assert runtime.index_state["embedding_error"] and _vector_source(runtime).embedder is None
        assert runtime.retrieval is not None  # retrieval itself is there
    finally:
        await runtime.close()
