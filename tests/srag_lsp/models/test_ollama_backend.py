"""The Ollama backend: the real `ollama` client over real HTTP against tests/support/ollama_server.py.

The server generates real tokens with the embedded model. Its fault modes (stall, die mid-stream, error
line) are the only fakes here, and they are what those tests are about.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from srag_lsp.models.base import BackendError, GenerationRequest, GenerationStats
from srag_lsp.models.ollama_backend import OllamaBackend
from tests.support.ollama_server import ServerState, serve

pytestmark = pytest.mark.model

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


async def collect(backend: OllamaBackend, request: GenerationRequest, stats: GenerationStats) -> str:
    out = ""
    async for piece in backend.stream(request, stats):
        out += piece
    return out


async def test_streams_real_tokens_with_stats(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await backend.start()
    assert backend.info.fim and backend.warnings == [] and backend.server_version
    stats = GenerationStats()
    text = await collect(backend, GenerationRequest(FIM, max_tokens=8, stop=["<|endoftext|>"]), stats)
    assert "a + b" in text
    assert stats.generated_tokens >= 1 and stats.prompt_tokens > 0 and stats.finish_reason in ("stop", "length")
    await backend.close()


async def test_missing_model_names_the_pull_command(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder:7b-base")
    with pytest.raises(BackendError, match=r"ollama pull qwen2\.5-coder:7b-base"):
        await backend.start()


async def test_model_without_fim_gets_a_warning(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="gemma3-270m")
    await backend.start()
    assert not backend.info.fim
    assert backend.warnings and "fill-in-the-middle" in backend.warnings[0]


async def test_cancel_closes_the_stream_and_the_server_stops(ollama_server: tuple[str, ServerState]) -> None:
    url, state = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await backend.start()
    stopped_before = state.generations_stopped_early
    stats = GenerationStats()
    stream = backend.stream(GenerationRequest("# A long story about the sea\n", max_tokens=400), stats)
    pieces = 0
    async for _ in stream:
        pieces += 1
        if pieces == 3:
            break
    await stream.aclose()
    assert stats.finish_reason == "cancelled"
    deadline = time.monotonic() + 120
    while state.generations_stopped_early == stopped_before and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert state.generations_stopped_early > stopped_before, "the server kept generating after the client left"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_dead_server_is_a_clear_error() -> None:
    port = free_port()
    backend = OllamaBackend(host=f"http://127.0.0.1:{port}", model="x")
    with pytest.raises(BackendError, match=rf"no Ollama at http://127.0.0.1:{port} \(connection refused\)"):
        await backend.start()
    with pytest.raises(BackendError, match="connection refused"):
        await collect(backend, GenerationRequest("x"), GenerationStats())


async def test_stalled_server_is_cut_off_by_the_caller() -> None:
    with serve(["qwen2.5-coder-0.5b"], fault="stall") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        stats = GenerationStats()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collect(backend, GenerationRequest(FIM), stats), 2.0)
        assert stats.finish_reason == "cancelled"


async def test_server_dying_mid_stream_is_a_clear_error() -> None:
    with serve(["qwen2.5-coder-0.5b"], fault="die_after=2") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        stats = GenerationStats()
        got: list[str] = []
        with pytest.raises(BackendError, match=r"broke off|ended the stream"):
            async for piece in backend.stream(GenerationRequest("# story\n", max_tokens=50), stats):
                got.append(piece)
        assert len(got) == 2 and stats.finish_reason == "error"


async def test_error_line_is_a_clear_error() -> None:
    with serve(["qwen2.5-coder-0.5b"], fault="error") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        with pytest.raises(BackendError, match="unexpectedly stopped"):
            await collect(backend, GenerationRequest(FIM), GenerationStats())
