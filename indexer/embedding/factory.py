"""Choose an embedder from settings (``off`` | ``local`` | ``ollama``), or from a model id found in an index.

The embedders' modules are imported only when one is made: with embeddings off, the index worker never loads
the Ollama client or onnxruntime.
"""

from __future__ import annotations

from pathlib import Path

from indexer.embedding.base import MODES, Embedder

OLLAMA_PREFIX = "ollama:"


def make_embedder(
    mode: str,
    *,
    model: str = "",
    host: str = "",
    model_dir: str | Path | None = None,
    check: bool = True,
) -> Embedder | None:
    """The embedder for ``mode``; None for ``off``. ValueError for an unknown mode; EmbeddingUnavailable
    (with the command to run) when ``local`` lacks a package or a model file and ``check`` is set."""
    mode = (mode or "off").strip().lower()
    if mode not in MODES:
        raise ValueError(f"embeddings must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return None
    if mode == "ollama":
        from indexer.embedding.ollama import DEFAULT_HOST, DEFAULT_OLLAMA_MODEL, OllamaEmbedder

        return OllamaEmbedder(host or DEFAULT_HOST, model or DEFAULT_OLLAMA_MODEL)
    from indexer.embedding.onnx import OnnxEmbedder

    embedder = OnnxEmbedder(model_dir or None)
    if check:
        embedder.check()
    return embedder


def embedder_for_model_id(model_id: str, *, host: str = "", model_dir: str | Path | None = None) -> Embedder:
    """The embedder that wrote vectors of ``model_id`` (for querying an index built elsewhere)."""
    from indexer.embedding.onnx import LOCAL_MODEL_ID

    if model_id == LOCAL_MODEL_ID:
        return make_embedder("local", model_dir=model_dir)  # type: ignore[return-value]
    if model_id.startswith(OLLAMA_PREFIX):
        return make_embedder("ollama", model=model_id[len(OLLAMA_PREFIX) :], host=host)  # type: ignore[return-value]
    raise ValueError(f"no embedder for vectors of {model_id!r} (written by another version?)")


def settings_embedder(settings: dict[str, object]) -> Embedder | None:
    """The embedder an index settings mapping asks for (``embeddings``, ``embedding_model``, ``ollama_host``,
    ``model_dir``; camelCase accepted); None when embeddings are off."""
    values = {_snake(k): v for k, v in settings.items()}
    return make_embedder(
        str(values.get("embeddings") or "off"),
        model=str(values.get("embedding_model") or ""),
        host=str(values.get("ollama_host") or ""),
        model_dir=str(values.get("model_dir") or "") or None,
    )


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)
