"""The Ollama backend: the real `ollama` client over real HTTP against tests/support/ollama_server.py.

The server generates real tokens with the embedded model. Its fault modes (stall, die mid-stream, error
line) are the only fakes here, and they are what those tests are about.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from srag_lsp.models.base import BackendError, GenerationRequest, GenerationStats
from srag_lsp.models.ollama_backend import OllamaBackend
from tests.support.ollama_server import Served, ServerState, serve
from tests.support.streams import collect

pytestmark = pytest.mark.model

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
STORY = "# A long story about the sea\n"
REPO = Path(__file__).resolve().parents[3]


async def wait_until_ended(state: ServerState, index: int) -> Served:
    """The server's record of its generate request number ``index``, once the server is done with it."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if len(state.generations) > index and state.generations[index].ended.is_set():
            return state.generations[index]
        await asyncio.sleep(0.05)
    raise AssertionError("the server's generation never ended")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_streams_real_tokens_with_stats(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await backend.start()
    assert backend.info.fim and backend.warnings == [] and backend.server_version
    stats = GenerationStats()
    pieces = []
    async for piece in backend.stream(GenerationRequest(FIM, max_tokens=8, stop=["\n"]), stats):
        pieces.append(piece)
    text = "".join(pieces)  # the words depend on the CPU and build flags; their shape does not
    assert text.strip() and "\n" not in text and len(pieces) >= 2  # streamed, not sent at once
    assert stats.generated_tokens >= 3 and stats.prompt_tokens > 5 and stats.finish_reason == "stop"
    assert stats.prompt_eval_ms > 0 and stats.generation_ms > 0
    length = GenerationStats()
    await collect(backend, GenerationRequest(STORY, max_tokens=6), length)
    assert length.generated_tokens == 6 and length.finish_reason == "length"
    await backend.close()


async def test_missing_model_names_the_pull_command(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder:7b-base")
    with pytest.raises(BackendError, match=r"run `ollama pull qwen2\.5-coder:7b-base`"):
        await backend.start()
    present = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await present.start()
    with pytest.raises(BackendError, match=r"ollama pull gone:1b"):  # a model removed after start
        await collect(present, GenerationRequest(FIM, model="gone:1b"), GenerationStats())


async def test_model_without_fim_gets_a_warning(ollama_server: tuple[str, ServerState]) -> None:
    url, _ = ollama_server
    backend = OllamaBackend(host=url, model="gemma3-270m")
    await backend.start()
    assert not backend.info.fim
    assert len(backend.warnings) == 1 and "fill-in-the-middle" in backend.warnings[0]
    assert "gemma3-270m" in backend.warnings[0]
    text = await collect(backend, GenerationRequest("def fibonacci(n):\n", max_tokens=8), GenerationStats())
    assert text.strip()


async def test_closing_the_stream_stops_the_server(ollama_server: tuple[str, ServerState]) -> None:
    url, state = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await backend.start()
    stopped_before = state.generations_stopped_early
    index = len(state.generations)
    stats = GenerationStats()
    stream = backend.stream(GenerationRequest(STORY, max_tokens=400), stats)
    pieces = 0
    async for _ in stream:
        pieces += 1
        if pieces == 3:
            break
    await stream.aclose()
    assert stats.finish_reason == "cancelled"
    served = await wait_until_ended(state, index)
    assert served.client_left, "the server did not see the connection close"
    assert state.generations_stopped_early == stopped_before + 1
    # It stopped because the client left, not at its end (how many tokens it wrote meanwhile depends on the load).
    assert served.stats.finish_reason == "cancelled" and served.stats.generated_tokens < 400, served


async def test_cancelling_the_task_stops_the_server(ollama_server: tuple[str, ServerState]) -> None:
    url, state = ollama_server
    backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
    await backend.start()
    index = len(state.generations)
    stats = GenerationStats()
    got: list[str] = []

    async def consume() -> None:
        async for piece in backend.stream(GenerationRequest(STORY, max_tokens=400), stats):
            got.append(piece)

    task = asyncio.create_task(consume())
    while len(got) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stats.finish_reason == "cancelled"
    served = await wait_until_ended(state, index)
    assert served.client_left
    # It stopped because the client left, not at its end (how many tokens it wrote meanwhile depends on the load).
    assert served.stats.finish_reason == "cancelled" and served.stats.generated_tokens < 400, served


async def test_dead_server_is_a_clear_error() -> None:
    port = free_port()
    backend = OllamaBackend(host=f"http://127.0.0.1:{port}", model="x")
    with pytest.raises(BackendError, match=rf"no Ollama at http://127.0.0.1:{port} \(connection refused\)"):
        await backend.start()
    stats = GenerationStats()
    with pytest.raises(BackendError, match=rf"no Ollama at http://127.0.0.1:{port} \(connection refused\)"):
        await collect(backend, GenerationRequest("x"), stats)
    assert stats.finish_reason == "error"


async def test_something_else_on_the_port_is_a_clear_error() -> None:
    """A plain HTTP server that is not Ollama: the probe says so instead of failing later."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=REPO / "tests",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=0.2)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        backend = OllamaBackend(host=f"http://127.0.0.1:{port}", model="x")
        with pytest.raises(BackendError, match=r"no Ollama at .* \(HTTP 404 from /api/version\)"):
            await backend.start()
    finally:
        proc.terminate()
        proc.wait(10)


async def test_stalled_server_is_cut_off_by_the_caller() -> None:
    """Fault injection: the server accepts the request and never answers."""
    with serve(["qwen2.5-coder-0.5b"], fault="stall") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        stats = GenerationStats()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(collect(backend, GenerationRequest(FIM), stats), 0.5)
        assert time.monotonic() - started < 30  # the caller's timeout, not the client's (120 s)
        assert stats.finish_reason == "cancelled"
        await backend.close()


async def test_server_dying_mid_stream_is_a_clear_error() -> None:
    """Fault injection: the server sends two tokens, then drops the connection."""
    with serve(["qwen2.5-coder-0.5b"], fault="die_after=2") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        stats = GenerationStats()
        got: list[str] = []
        with pytest.raises(BackendError, match=rf"Ollama at {url} broke off the stream"):
            async for piece in backend.stream(GenerationRequest(STORY, max_tokens=50), stats):
                got.append(piece)
        assert len(got) == 2 and stats.finish_reason == "error"


async def test_error_line_is_a_clear_error() -> None:
    """Fault injection: the server answers with an `{"error": ...}` line."""
    with serve(["qwen2.5-coder-0.5b"], fault="error") as (url, _):
        backend = OllamaBackend(host=url, model="qwen2.5-coder-0.5b")
        await backend.start()
        stats = GenerationStats()
        with pytest.raises(BackendError, match=rf"Ollama at {url}: model runner has unexpectedly stopped"):
            await collect(backend, GenerationRequest(FIM), stats)
        assert stats.finish_reason == "error"


def test_server_runs_as_a_script() -> None:
    """The LSP tests start the server as a subprocess: it prints its URL when ready and ends on SIGTERM."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ollama_server", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = (proc.stdout.readline() if proc.stdout else "").strip()
        assert url.startswith("http://127.0.0.1:"), proc.stderr.read() if proc.stderr else ""
        assert httpx.get(f"{url}/api/version", timeout=5).json()["version"]
        shown = httpx.post(f"{url}/api/show", json={"model": "qwen2.5-coder-0.5b"}, timeout=5).json()
        assert "insert" in shown["capabilities"]
    finally:
        proc.terminate()
        assert proc.wait(30) == 0
