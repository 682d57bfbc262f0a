"""Backend selection: `auto` takes Ollama when it answers with the model, else the embedded default."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from srag_lsp.models.base import BackendError, ModelBackend
from srag_lsp.models.selection import select_backend
from srag_lsp.settings import default_model_dir
from tests.support.ollama_server import ServerState

pytestmark = pytest.mark.model


def dead_host() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def select(kind: str, *, ollama_host: str | None = None, ollama_model: str = "m",
                 embedded_model: str = "qwen2.5-coder-0.5b", model_dir: Path | None = None) -> tuple[ModelBackend, str]:
    """``select_backend`` with this file's usual arguments; each test names only what it is about."""
    return await select_backend(kind, ollama_host=ollama_host or dead_host(), ollama_model=ollama_model,
                                embedded_model=embedded_model, model_dir=model_dir or default_model_dir())


async def test_auto_prefers_a_live_ollama(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend, notice = await select("auto", ollama_host=url, ollama_model="qwen2.5-coder-0.5b")
    assert backend.info.backend == "ollama" and backend.info.fim
    assert notice.startswith("srag-lsp: using Ollama") and url in notice and "qwen2.5-coder-0.5b" in notice
    await backend.close()


async def test_auto_falls_back_to_embedded_and_says_why() -> None:
    host = dead_host()
    backend, notice = await select("auto", ollama_host=host)
    assert backend.info.backend == "embedded" and backend.info.model == "qwen2.5-coder-0.5b"
    assert notice == (
        f"srag-lsp: no Ollama at {host} (connection refused); "
        "using the embedded model qwen2.5-coder-0.5b (llama.cpp in process)"
    )


async def test_auto_falls_back_when_the_model_is_missing(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend, notice = await select("auto", ollama_host=url, ollama_model="llama9:400b")
    assert backend.info.backend == "embedded" and "ollama pull llama9:400b" in notice


async def test_embedded_on_request_never_asks_ollama() -> None:
    backend, notice = await select("embedded", ollama_host="http://192.0.2.1:9", embedded_model="gemma3-270m")
    assert backend.info.backend == "embedded" and backend.info.model == "gemma3-270m" and not backend.info.fim
    assert notice == "srag-lsp: using the embedded model gemma3-270m (llama.cpp in process)"


async def test_ollama_only_raises_when_unreachable() -> None:
    with pytest.raises(BackendError, match="no Ollama"):
        await select("ollama")


async def test_auto_with_neither_says_both(tmp_path: Path) -> None:
    host = dead_host()
    with pytest.raises(BackendError, match=rf"no Ollama at {host} .*embedded model is not usable.*does not exist"):
        await select("auto", ollama_host=host, embedded_model=str(tmp_path / "none.gguf"), model_dir=tmp_path)


async def test_unknown_kind() -> None:
    with pytest.raises(BackendError, match="unknown backend 'llamafile'"):
        await select("llamafile")
