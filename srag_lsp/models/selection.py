"""Choosing the backend: Ollama when it answers and has the model, else the embedded default (`auto`)."""

from __future__ import annotations

import logging
from pathlib import Path

from srag_lsp.models.base import BackendError, ModelBackend
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.ollama_backend import OllamaBackend

log = logging.getLogger(__name__)


async def select_backend(
    kind: str,
    *,
    ollama_host: str,
    ollama_model: str,
    embedded_model: str,
    model_dir: Path,
    n_ctx: int = 4096,
    n_threads: int = 0,
    keep_alive: str = "30m",
    probe_timeout: float = 1.0,
) -> tuple[ModelBackend, str]:
    """A started backend and one line telling the user which one and why.

    ``kind``: "ollama" (Ollama or a BackendError), "embedded" (llama.cpp in process), or "auto" (Ollama when
    it answers within ``probe_timeout`` and has ``ollama_model``, else the embedded model). Raises
    BackendError when the chosen backend (in auto: both) cannot be used; the message says why.
    """
    if kind not in ("ollama", "embedded", "auto"):
        raise BackendError(f"unknown backend {kind!r}: use auto, ollama or embedded")
    reason = ""
    if kind in ("ollama", "auto"):
        ollama_backend = OllamaBackend(
            host=ollama_host, model=ollama_model, keep_alive=keep_alive, probe_timeout=probe_timeout
        )
        try:
            await ollama_backend.start()
            return (
                ollama_backend,
                f"srag-lsp: using Ollama {ollama_backend.server_version} at {ollama_host} with {ollama_model}",
            )
        except BackendError as exc:
            await ollama_backend.close()
            if kind == "ollama":
                raise
            reason = str(exc)
    embedded = EmbeddedBackend(embedded_model, model_dir=model_dir, n_ctx=n_ctx, n_threads=n_threads or None)
    try:
        await embedded.start()
    except BackendError as exc:
        if reason:
            raise BackendError(f"{reason}; and the embedded model is not usable either: {exc}") from None
        raise
    if kind == "embedded":
        notice = f"srag-lsp: using the embedded model {embedded.info.model} (llama.cpp in process)"
    else:
        notice = f"srag-lsp: {reason}; using the embedded model {embedded.info.model} (llama.cpp in process)"
    log.info("%s", notice)
    return embedded, notice
