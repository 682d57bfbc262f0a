"""Backend selection: `auto` takes Ollama when it answers with the model, else the embedded default."""

from __future__ import annotations

import socket

import pytest

from srag_lsp.models.base import BackendError
from srag_lsp.models.selection import select_backend
from srag_lsp.settings import default_model_dir
from tests.support.ollama_server import ServerState

pytestmark = pytest.mark.model


def dead_host() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_auto_prefers_a_live_ollama(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend, notice = await select_backend("auto", ollama_host=url, ollama_model="qwen2.5-coder-0.5b",
                                           embedded_model="qwen2.5-coder-0.5b", model_dir=default_model_dir())
    assert backend.info.backend == "ollama" and url in notice


async def test_auto_falls_back_to_embedded_and_says_why() -> None:
    host = dead_host()
    backend, notice = await select_backend("auto", ollama_host=host, ollama_model="m",
                                           embedded_model="qwen2.5-coder-0.5b", model_dir=default_model_dir())
    assert backend.info.backend == "embedded"
    assert f"no Ollama at {host} (connection refused)" in notice and "embedded model qwen2.5-coder-0.5b" in notice


async def test_auto_falls_back_when_the_model_is_missing(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend, notice = await select_backend("auto", ollama_host=url, ollama_model="llama9:400b",
                                           embedded_model="qwen2.5-coder-0.5b", model_dir=default_model_dir())
    assert backend.info.backend == "embedded" and "ollama pull llama9:400b" in notice


async def test_ollama_only_raises_when_unreachable() -> None:
    with pytest.raises(BackendError, match="no Ollama"):
        await select_backend("ollama", ollama_host=dead_host(), ollama_model="m",
                             embedded_model="qwen2.5-coder-0.5b", model_dir=default_model_dir())
