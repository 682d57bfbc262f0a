"""The Ollama embedder: ``/api/embed`` through the official client, a batch of texts per call.

Works with any embedding model the server has (``nomic-embed-text``, ``all-minilm``, ...); the vectors'
length is learned from the first answer. Every failure (no server, a model that is not pulled, a timeout, an
answer of the wrong shape) raises :class:`~indexer.embedding.base.EmbeddingError` naming the host and the
model, and for a missing model the ``ollama pull`` command: the caller (the background embedder) logs it,
backs off and keeps indexing.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

import httpx
import ollama

from indexer.embedding.base import EmbeddingError, normalized

log = logging.getLogger(__name__)

DEFAULT_OLLAMA_MODEL = "nomic-embed-text"
DEFAULT_HOST = "http://127.0.0.1:11434"
QUERY_CHARS = 2000  # a query keeps the end of a long text (the lines before the cursor)


class OllamaEmbedder:
    """Embeddings from an Ollama server (``/api/embed``); thread-safe."""

    batch_size = 32  # one HTTP call per batch; the server batches on its side

    def __init__(self, host: str = DEFAULT_HOST, model: str = DEFAULT_OLLAMA_MODEL, *, timeout_s: float = 20.0,
                 client: Any = None) -> None:
        self.host = host.rstrip("/") or DEFAULT_HOST
        self.model = model or DEFAULT_OLLAMA_MODEL
        self.model_id = f"ollama:{self.model}"
        self._client = client or ollama.Client(host=self.host, timeout=httpx.Timeout(timeout_s, connect=3.0))
        self._dim: int | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int | None:
        return self._dim

    def warm(self) -> None:
        """One small call, so the server loads the model now (and the vectors' length is known)."""
        self.embed(["warm up"])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        items = [t if t.strip() else " " for t in texts]  # an empty input gets no vector from some servers
        if not items:
            return []
        try:
            answer = self._client.embed(model=self.model, input=items, truncate=True)
        except ollama.ResponseError as exc:
            hint = f"; run: ollama pull {self.model}" if exc.status_code == 404 else ""
            message = f"Ollama at {self.host} could not embed with {self.model}: {exc.error}{hint}"
            raise EmbeddingError(message) from None
        except (ConnectionError, httpx.HTTPError, OSError) as exc:
            raise EmbeddingError(f"Ollama at {self.host} is not answering ({type(exc).__name__}: {exc})") from None
        vectors = getattr(answer, "embeddings", None)
        if not isinstance(vectors, Sequence) or len(vectors) != len(items):
            got = len(vectors) if isinstance(vectors, Sequence) else type(vectors).__name__
            raise EmbeddingError(f"Ollama at {self.host} answered {got} vectors for {len(items)} texts")
        out = [normalized([float(x) for x in v]) for v in vectors]
        lengths = {len(v) for v in out}
        if len(lengths) != 1 or 0 in lengths:
            raise EmbeddingError(f"Ollama at {self.host} answered vectors of lengths {sorted(lengths)}")
        with self._lock:
            if self._dim is None:
                self._dim = lengths.pop()
            elif self._dim not in lengths:
                raise EmbeddingError(f"{self.model} answered {lengths.pop()} floats, earlier {self._dim}")
        return out

    def embed_query(self, text: str) -> list[float]:
        return self.embed([text[-QUERY_CHARS:]])[0]
