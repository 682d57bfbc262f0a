"""The Ollama embedder over real HTTP (the test server's /api/embed runs the local model), and its failures."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from indexer.embedding import EmbeddingError, make_embedder
from indexer.embedding.ollama import OllamaEmbedder
from tests.support.embedding import cosine, local_embedder, require_local_model
from tests.support.ollama_server import ServerState, serve

CODE = ["def parse_http_response(raw):\n    return raw.split(b'\\r\\n')\n", "class Circle:\n    radius = 1.0\n"]


@pytest.fixture(scope="module")
def embed_server() -> Iterator[tuple[str, ServerState]]:
    require_local_model()
    with serve([], embed_models=["all-minilm"]) as running:
        yield running


def test_vectors_come_over_http_in_one_call_per_batch(embed_server: tuple[str, ServerState]) -> None:
    url, state = embed_server
    state.fault = ""
    embedder = make_embedder("ollama", model="all-minilm", host=url)
    assert isinstance(embedder, OllamaEmbedder) and embedder.model_id == "ollama:all-minilm"
    before = state.embed_requests
    vectors = embedder.embed(CODE)
    assert state.embed_requests == before + 1
    assert embedder.dim == 384
    local = local_embedder().embed(CODE)
    assert all(cosine(a, b) > 0.999 for a, b in zip(vectors, local, strict=True))
    query = embedder.embed_query("split an HTTP reply")
    assert cosine(query, vectors[0]) > cosine(query, vectors[1])
    assert embedder.embed([]) == []


def test_a_model_that_is_not_pulled_names_the_pull_command(embed_server: tuple[str, ServerState]) -> None:
    url, _ = embed_server
    with pytest.raises(EmbeddingError, match="ollama pull nomic-embed-text"):
        OllamaEmbedder(url, "nomic-embed-text").embed(["x"])


def test_server_errors_and_dropped_connections_are_embedding_errors(embed_server: tuple[str, ServerState]) -> None:
    url, state = embed_server
    embedder = OllamaEmbedder(url, "all-minilm")
    try:
        state.fault = "embed_error"
        with pytest.raises(EmbeddingError, match="runner process has terminated"):
            embedder.embed(CODE)
        state.fault = "embed_die"
        with pytest.raises(EmbeddingError, match="not answering"):
            embedder.embed(CODE)
    finally:
        state.fault = ""
    assert len(embedder.embed(CODE)) == 2  # and it works again once the server does


def test_no_server_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    embedder = OllamaEmbedder(f"http://127.0.0.1:{port}", "all-minilm")
    with pytest.raises(EmbeddingError, match=rf"Ollama at http://127.0.0.1:{port} is not answering"):
        embedder.embed(["x"])
