"""What every embedder shares: the Embedder protocol, its errors, and vector normalisation.

An embedder turns texts into unit-length float vectors. Its ``model_id`` names the model *and* the way texts
are prepared, so vectors of different ids are never mixed: each id gets a vectors table of its own
(:mod:`indexer.vectors`). ``embed`` is for chunks (documents); ``embed_query`` for a search text, where the
end of a long text matters most (the lines just before the cursor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

MODES = ("off", "local", "ollama")


class EmbeddingError(RuntimeError):
    """An embedding call failed (a dead server, an unknown model, a bad answer); the message says which."""


class EmbeddingUnavailable(EmbeddingError):
    """The embedder cannot run at all on this machine (a missing package or model file); says what to run."""


@runtime_checkable
class Embedder(Protocol):
    model_id: str  # e.g. "local:all-minilm-l6-v2-int8" or "ollama:nomic-embed-text"
    batch_size: int  # texts per call that keep one call short (the background embedder yields between calls)

    @property
    def dim(self) -> int | None:
        """The vectors' length (None until known: an Ollama model says so at its first answer)."""
        ...

    def warm(self) -> None:
        """Load the model (or wake the server) now, so that the first real call is fast."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...

    def embed_query(self, text: str) -> list[float]: ...


def normalized(vector: Sequence[float]) -> list[float]:
    """``vector`` scaled to unit length (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    if norm == 0.0 or not math.isfinite(norm):
        return [0.0] * len(vector)
    return [x / norm for x in vector]
