"""The real local embedding model for tests: one instance per session, and a skip that says what is missing.

Tests that need the model use ``needs_local_model`` (a skip naming what to install or run when the model is
absent). ``scripts/test.sh`` sets ``SRAG_REQUIRE_EMBEDDINGS=1`` after set-up has installed it: there, a
missing model fails those tests instead of skipping them.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence

import pytest

from indexer.embedding import EmbeddingUnavailable
from indexer.embedding.onnx import OnnxEmbedder


@functools.cache
def missing_reason() -> str | None:
    try:
        OnnxEmbedder().check()
    except EmbeddingUnavailable as exc:
        return str(exc)
    return None


def require_local_model() -> None:
    """Skip (or, with SRAG_REQUIRE_EMBEDDINGS=1, fail) the calling test when the local model is absent."""
    reason = missing_reason()
    if reason is None:
        return
    if os.environ.get("SRAG_REQUIRE_EMBEDDINGS") == "1":
        pytest.fail(f"the local embedding model is required here: {reason}")
    pytest.skip(f"needs the local embedding model: {reason}")


@pytest.fixture
def needs_local_model() -> None:
    require_local_model()


@functools.cache
def local_embedder() -> OnnxEmbedder:
    """One loaded model for the whole session (it is thread-safe)."""
    embedder = OnnxEmbedder()
    embedder.warm()
    return embedder


class RecordingEmbedder:
    """The real local embedder, recording every text it is asked to embed (to count what was re-embedded)."""

    def __init__(self) -> None:
        self._inner = local_embedder()
        self.model_id = self._inner.model_id
        self.batch_size = self._inner.batch_size
        self.texts: list[str] = []
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self._inner.dim

    def warm(self) -> None:
        self._inner.warm()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        with self._lock:
            self.texts.extend(texts)
        return self._inner.embed(texts)

    def embed_query(self, text: str) -> list[float]:
        return self._inner.embed_query(text)

    def take(self) -> list[str]:
        """The texts embedded since the last call."""
        with self._lock:
            taken, self.texts = self.texts, []
        return taken


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))
