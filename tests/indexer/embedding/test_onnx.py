"""The local ONNX embedder with the real model: meaning, batching, odd inputs, and what a missing part says."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.embedding import EmbeddingUnavailable, make_embedder
from indexer.embedding.onnx import DIM, OnnxEmbedder, prepare_text
from tests.support.embedding import cosine, local_embedder, require_local_model

pytestmark = pytest.mark.usefixtures("needs_local_model")

HTTP = "def parse_http_response(raw: bytes) -> dict:\n    head, _, body = raw.partition(b'\\r\\n\\r\\n')\n"
CIRCLE = "class Circle:\n    def area(self) -> float:\n        return math.pi * self.radius ** 2\n"


def test_similar_texts_are_nearer_than_unrelated_ones() -> None:
    embedder = local_embedder()
    query = embedder.embed_query("split an HTTP reply into its headers and body")
    http, circle = embedder.embed([HTTP, CIRCLE])
    assert cosine(query, http) > cosine(query, circle) + 0.2
    shape = embedder.embed_query("the surface of a round shape")
    assert cosine(shape, circle) > cosine(shape, http)


def test_a_batch_gives_the_same_vectors_as_single_calls() -> None:
    embedder = local_embedder()
    texts = [HTTP, CIRCLE, "x = 1", "def f():\n    pass\n" * 30]
    batch = embedder.embed(texts)
    for text, vector in zip(texts, batch, strict=True):
        single = embedder.embed([text])[0]
        assert max(abs(a - b) for a, b in zip(vector, single, strict=True)) < 1e-4


def test_long_and_empty_inputs_give_unit_vectors() -> None:
    embedder = local_embedder()
    long_text = "def handler(request):\n    return respond(request.body)\n" * 2000
    vectors = embedder.embed(["", "   ", long_text])
    assert [len(v) for v in vectors] == [DIM, DIM, DIM]
    assert all(abs(cosine(v, v) - 1.0) < 1e-3 for v in vectors)
    assert embedder.embed([]) == []


def test_a_query_keeps_the_end_of_a_long_text_and_a_chunk_its_start() -> None:
    embedder = local_embedder()
    totals = "\n".join(f"total_{i} = compute_total(items_{i})" for i in range(100)) + "\n"
    colours = "\n".join(f"colour_{i} = blend(red_{i}, blue_{i})" for i in range(100)) + "\n"
    mail = "".join(f"smtp.send_message(recipient_{i}, subject_{i}, body_{i})\n" for i in range(40))
    same_end = cosine(embedder.embed_query(totals + mail), embedder.embed_query(colours + mail))
    assert same_end > 0.999  # only the end counts for a query
    as_chunks = embedder.embed([totals + mail, colours + mail])
    assert cosine(*as_chunks) < 0.9  # a chunk keeps its start


def test_identifiers_are_split_into_words() -> None:
    assert prepare_text("parseHttpResponse(raw_bytes)") == "parse Http Response(raw bytes)"
    assert prepare_text("HTTPServer") == "HTTP Server"


def test_a_missing_tokenizer_names_the_command_to_run(tmp_path: Path) -> None:
    require_local_model()
    embedder = OnnxEmbedder(tmp_path / "empty")
    with pytest.raises(EmbeddingUnavailable, match=r"srag-lsp models all-minilm-l6-v2"):
        embedder.check()
    with pytest.raises(EmbeddingUnavailable, match="tokenizer is missing"):
        embedder.embed(["x"])
    with pytest.raises(EmbeddingUnavailable, match="tokenizer is missing"):
        make_embedder("local", model_dir=tmp_path / "empty")


def test_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="off, local, ollama"):
        make_embedder("vectors-please")
    assert make_embedder("off") is None
