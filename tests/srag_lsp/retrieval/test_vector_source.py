"""The vector source through the retriever: with an embedder whose vectors the index has, it contributes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.query import IndexReader
from srag_lsp.retrieval.index_access import build_index
from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.sources import VectorSource
from srag_lsp.retrieval.types import CursorQuery
from tests.srag_lsp.retrieval.sample_workspace import write_sample_workspace
from tests.support.embedding import local_embedder, require_local_model

# Nothing here names a workspace identifier: only the meaning leads to the discount.
TYPING = (
    '"""Marketing."""\n\n\n'
    "def promotion_value(basket, word):\n"
    "    # how much comes off the bill when the buyer types a promotional word\n"
    "    reduction = "
)


@pytest.fixture(scope="module")
def embedded_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    require_local_model()
    base = tmp_path_factory.mktemp("vectors")
    root = write_sample_workspace(base / "ws")
    build_index(root, str(base / "index"), embedder=local_embedder())
    yield root, base / "index"


def _cursor() -> CursorQuery:
    lines = TYPING.split("\n")
    return CursorQuery("shop/marketing.py", TYPING, len(lines) - 1, len(lines[-1]))


async def test_the_vector_source_contributes_when_an_embedder_is_set(embedded_workspace: tuple[Path, Path]) -> None:
    root, index_dir = embedded_workspace
    retriever = Retriever(root, index_dir=str(index_dir))
    try:
        without = await retriever.retrieve(_cursor(), deadline_ms=2000)
        assert "vector" not in without.ms
        retriever.set_embedder(local_embedder())
        with_vectors = await retriever.retrieve(_cursor(), deadline_ms=2000)
    finally:
        retriever.close()
    assert "vector" in with_vectors.ms and "vector" not in with_vectors.dropped
    by_vector = [c for c in with_vectors.chunks if "vector" in c.sources]
    assert by_vector, with_vectors.chunks
    assert "discount_for" in [c.symbol for c in by_vector[:3]]
    assert "discount_for" not in [c.symbol for c in without.chunks]


def test_the_vector_source_needs_vectors_of_its_own_model(embedded_workspace: tuple[Path, Path]) -> None:
    _, index_dir = embedded_workspace
    reader = IndexReader.open(index_dir)
    assert reader is not None

    class OtherModel:
        model_id = "ollama:nomic-embed-text"

        def embed_query(self, text: str) -> list[float]:
            raise AssertionError("not called: the index has no vectors of this model")

    assert VectorSource(lambda: reader, local_embedder()).available()
    assert not VectorSource(lambda: reader, OtherModel()).available()
