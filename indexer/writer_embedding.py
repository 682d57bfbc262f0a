"""The index writer's background embedding: the embedder the settings name, run only while indexing is idle.

With embeddings on (setting ``embeddings``: ``local`` or ``ollama``, or an embedder given by the caller),
:class:`WriterEmbedding` runs a :class:`~indexer.embedding.background.BackgroundEmbedder` on the writer's
thread, one small batch at a time. An embedder that cannot run is reported (each distinct error once) and
indexing goes on without vectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from indexer import protocol
from indexer.embedding import Embedder, EmbeddingError, settings_embedder
from indexer.embedding.background import BackgroundEmbedder
from indexer.vectors import VectorStore

log = logging.getLogger(__name__)


class WriterEmbedding:
    """Starts, paces and reports the writer's background embedder (nothing runs when embeddings are off)."""

    def __init__(
        self,
        settings: dict[str, Any],
        embedder: Embedder | None,
        index_dir: str,
        *,
        cleanup_age: timedelta,
        backoff_s: tuple[float, ...],
        store: Callable[[], Any],
        emit: Callable[[dict[str, Any]], None],
        update_status: Callable[..., None],
    ) -> None:
        self.settings = settings
        self.embedder = embedder  # given: used instead of the one the settings name
        self.index_dir = index_dir
        self.cleanup_age = cleanup_age
        self.backoff_s = backoff_s
        self._store = store
        self._emit = emit
        self._update_status = update_status
        self.running: BackgroundEmbedder | None = None
        self._reported_error: str | None = None  # the last one reported (each distinct message once)

    def opened(self) -> None:
        """The index was (re)opened: start the embedder if none runs yet, else look at every chunk again."""
        if self.running is None:
            self._start()
        else:
            self.running.mark_all()

    def _start(self) -> None:
        """The background embedder the settings ask for; a reported error (and none) when it cannot run."""
        try:
            embedder = self.embedder or settings_embedder(self.settings)
            if embedder is None:
                return
            vectors = VectorStore(self.index_dir, embedder.model_id, cleanup_age=self.cleanup_age)
        except (EmbeddingError, ValueError, OSError) as exc:
            message = f"embeddings are off: {exc}"
            log.warning("%s", message)
            self._update_status(embedding_error=message)
            self._emit({"type": protocol.ERROR, "message": message, "fatal": False})
            return
        except Exception as exc:  # a damaged vectors table, say: index without embeddings
            log.exception("cannot start embedding")
            self._update_status(embedding_error=f"embeddings are off: {exc}")
            return
        self.running = BackgroundEmbedder(embedder, self._store, vectors, backoff_s=self.backoff_s)
        self._update_status(embedding_error=None)
        log.info("embedding chunks in the background with %s", embedder.model_id)

    def wait(self, quiet_at: float, now: float) -> float | None:
        """Seconds until the embedder has work (0: now); None when it has none (or is off). Its upkeep waits
        for a quiet moment: ``quiet_at``, the monotonic time at which the writer has been idle long enough."""
        running = self.running
        if running is None:
            return None
        wait = running.wait_s()
        if wait is None and running.maintenance_due():
            return max(0.0, quiet_at - now)
        return wait

    def step(self) -> None:
        """One batch of embeddings (or the vectors' upkeep when nothing is left to embed)."""
        running = self.running
        assert running is not None
        running.work()
        error = running.error
        if error is not None and error != self._reported_error:
            self._emit({"type": protocol.ERROR, "message": f"embeddings: {error}", "fatal": False})
        self._reported_error = error

    def status(self) -> dict[str, Any]:
        running = self.running
        return running.status() if running is not None else {}

    def mark_all(self) -> None:
        if self.running is not None:
            self.running.mark_all()

    def note_paths(self, paths: Iterable[str]) -> None:
        if self.running is not None:
            self.running.note_paths(paths)

    def flush(self) -> None:
        """Write the vectors made but not yet written (at shutdown); a failure is logged."""
        if self.running is None:
            return
        try:
            self.running.flush()
        except Exception:
            log.exception("writing the last vectors at shutdown failed")
