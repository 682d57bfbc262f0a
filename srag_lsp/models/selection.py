"""Choosing the backend: Ollama when it answers and has the model, else the embedded default (`auto`); or the one
the settings name (a team's OpenAI-compatible server or llama-server)."""

from __future__ import annotations

import logging
from pathlib import Path

from srag_lsp.models.base import BackendError, ModelBackend
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.llama_server_backend import LlamaServerBackend
from srag_lsp.models.ollama_backend import OllamaBackend
from srag_lsp.models.openai_backend import OpenAIBackend

log = logging.getLogger(__name__)


async def select_backend(
    kind: str,
    *,
    ollama_host: str,
    ollama_model: str,
    embedded_model: str,
    model_dir: Path,
    embedded_weights: str = "auto",
    n_ctx: int = 4096,
    n_threads: int = 0,
    keep_alive: str = "30m",
    probe_timeout: float = 1.0,
    openai_base_url: str = "",
    openai_model: str = "",
    openai_api_key_env: str = "",
    llama_server_url: str = "",
) -> tuple[ModelBackend, str]:
    """A started backend and one line telling the user which one and why.

    ``kind``: "ollama" (Ollama or a BackendError), "embedded" (llama.cpp in process), or "auto" (Ollama when
    it answers within ``probe_timeout`` and has ``ollama_model``, else the embedded model). Raises
    BackendError when the chosen backend (in auto: both) cannot be used; the message says why.
    """
    if kind not in ("ollama", "embedded", "auto", "openai", "llama-server"):
        raise BackendError(f"unknown backend {kind!r}: use auto, ollama, embedded, openai or llama-server")
    if kind == "openai":
        return await _server(OpenAIBackend(base_url=openai_base_url, model=openai_model, key_env=openai_api_key_env,
                                           probe_timeout=max(probe_timeout, 2.0)), openai_base_url, "openaiBaseUrl")
    if kind == "llama-server":
        return await _server(LlamaServerBackend(url=llama_server_url, key_env=openai_api_key_env,
                                                probe_timeout=max(probe_timeout, 2.0)),
                             llama_server_url, "llamaServerUrl")
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
    embedded = EmbeddedBackend(embedded_model, model_dir=model_dir, n_ctx=n_ctx, n_threads=n_threads or None,
                               weights=embedded_weights)
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


async def _server(backend: OpenAIBackend | LlamaServerBackend, url: str, setting: str) -> tuple[ModelBackend, str]:
    """A team's model server, started; BackendError (the backend closed) when it cannot be used."""
    if not url:
        await backend.close()
        raise BackendError(f"backend {backend.info.backend} needs {setting}: the server's address")
    try:
        await backend.start()
    except BackendError:
        await backend.close()
        raise
    notice = f"srag-lsp: using {backend.info.backend} at {url} with {backend.info.model}"
    log.info("%s", notice)
    return backend, notice
