"""The OpenAI-compatible backend over real HTTP against tests/support/openai_server.py.

The server generates real tokens with the embedded model and, like vLLM, rejects ``suffix``. Its faults (401,
500, a stream cut mid-token, a stall) are the only fakes here, and they are what those tests are about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from srag_lsp.models.base import BackendError, GenerationRequest, GenerationStats
from srag_lsp.models.openai_backend import OpenAIBackend
from tests.support.ollama_server import ServerState
from tests.support.openai_server import serve_openai
from tests.support.streams import collect

pytestmark = pytest.mark.model

MODEL = "qwen2.5-coder-0.5b"
FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"
KEY = "sk-test-0123456789abcdef"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, ServerState]]:
    with serve_openai([MODEL], api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def healthy(server: tuple[str, ServerState], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TEAM_KEY", KEY)
    _, state = server
    state.fault = ""
    state.stall_release.clear()
    yield
    state.fault = ""
    state.stall_release.set()


def backend(url: str, **kwargs: object) -> OpenAIBackend:
    options: dict[str, object] = {"base_url": f"{url}/v1", "model": MODEL, "key_env": "TEAM_KEY"} | kwargs
    return OpenAIBackend(**options)  # type: ignore[arg-type]


async def test_streams_real_tokens_with_the_key_and_never_sends_a_suffix(server: tuple[str, ServerState]) -> None:
    url, state = server
    b = backend(url)
    await b.start()
    try:
        assert b.info.backend == "openai" and b.info.fim and b.info.detail == f"{url}/v1"
        assert MODEL in b.server_models
        stats = GenerationStats()
        stops = ["\n", "<|endoftext|>", "<|fim_pad|>", "<|file_sep|>", "<|im_end|>", "<|fim_prefix|>"]
        pieces = [p async for p in b.stream(GenerationRequest(FIM, max_tokens=8, stop=stops), stats)]
        assert "".join(pieces).strip() and len(pieces) >= 2  # streamed, not sent at once
        assert stats.generated_tokens >= 2 and stats.prompt_tokens > 5 and stats.finish_reason in ("stop", "length")
        path, body = state.bodies[-1]
        assert path == "/v1/completions" and body["prompt"] == FIM and "suffix" not in body
        assert body["stream"] is True and len(body["stop"]) == 4  # the API's limit; the engine cuts at the rest
        assert state.seen[-1][1]["Authorization"] == f"Bearer {KEY}"
        assert await b.prefill(FIM, num_ctx=4096, max_tokens=8) == 0
        assert await b.score(FIM, ["a", "b"]) is None and b.cached_share(FIM) is None
    finally:
        await b.close()


async def test_a_model_the_server_lacks_is_named_with_those_it_has(server: tuple[str, ServerState]) -> None:
    url, _ = server
    b = backend(url, model="qwen2.5-coder-32b")
    with pytest.raises(BackendError, match=rf"does not have the model 'qwen2.5-coder-32b'; it has: {MODEL}"):
        await b.start()
    await b.close()


async def test_a_wrong_or_missing_key_is_said_without_the_key(server: tuple[str, ServerState],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    monkeypatch.setenv("TEAM_KEY", "sk-wrong-key-987654")
    b = backend(url)
    with pytest.raises(BackendError) as raised:
        await b.start()
    assert "HTTP 401" in str(raised.value) and "TEAM_KEY" in str(raised.value)
    assert "sk-wrong" not in str(raised.value)
    monkeypatch.delenv("TEAM_KEY")
    with pytest.raises(BackendError, match=r"TEAM_KEY .* is not set"):
        await b.start()
    await b.close()


@pytest.mark.parametrize(("fault", "said"), [
    ("unauthorized", "HTTP 401"),
    ("server_error", "failed \\(HTTP 500\\): CUDA error"),
    ("die_after=2", "broke off the stream"),
])
async def test_each_fault_is_one_error_and_the_next_request_works(server: tuple[str, ServerState], fault: str,
                                                                  said: str) -> None:
    url, state = server
    b = backend(url)
    await b.start()
    try:
        state.fault = fault
        stats = GenerationStats()
        with pytest.raises(BackendError, match=said):
            await collect(b, GenerationRequest(FIM, max_tokens=8), stats)
        assert stats.finish_reason == "error"
        state.fault = ""
        assert (await collect(b, GenerationRequest(FIM, max_tokens=4), GenerationStats())).strip()
    finally:
        await b.close()


async def test_a_stalled_stream_ends_with_a_message(server: tuple[str, ServerState]) -> None:
    url, state = server
    b = backend(url, read_timeout=1.0)
    await b.start()
    try:
        state.fault = "stall"
        with pytest.raises(BackendError, match="stalled: nothing for 1 s before the first token"):
            await collect(b, GenerationRequest(FIM, max_tokens=8), GenerationStats())
    finally:
        state.stall_release.set()
        await b.close()


async def test_a_superseded_request_closes_its_stream(server: tuple[str, ServerState]) -> None:
    url, state = server
    b = backend(url)
    await b.start()
    try:
        before = len(state.generations)
        stats = GenerationStats()
        stream = b.stream(GenerationRequest("# A long story about the sea\n", max_tokens=400), stats)
        assert await anext(stream)
        await stream.aclose()  # what the engine does with a superseded generation
        assert stats.finish_reason == "cancelled"
        for _ in range(400):
            if len(state.generations) > before and state.generations[before].ended.is_set():
                break
            await asyncio.sleep(0.05)
        served = state.generations[before]
        assert served.client_left and served.stats.generated_tokens < 400  # the server stopped generating
    finally:
        await b.close()


async def test_nothing_there_is_said_with_the_address() -> None:
    b = OpenAIBackend(base_url="http://127.0.0.1:9/v1", model=MODEL)
    with pytest.raises(BackendError, match=r"no model server at http://127.0.0.1:9/v1 \(connection refused\)"):
        await b.start()
    await b.close()


async def test_one_request_at_a_time_and_a_warm_up_never_queues(server: tuple[str, ServerState]) -> None:
    """A second generation waits until the first is closed (the engine closes a superseded one first); a llama-server
    warm-up while a request is in flight evaluates nothing and sends nothing."""
    from srag_lsp.models.base import FimParts
    from srag_lsp.models.llama_server_backend import LlamaServerBackend

    url, state = server
    for b in (backend(url), LlamaServerBackend(url=url, key_env="TEAM_KEY")):
        await b.start()
        try:
            # A place where every build writes something (a prose comment with nothing after it may end at once).
            request = GenerationRequest(FIM, max_tokens=200, fim=FimParts("def add(a, b):\n    return ", "\n"))
            first = b.stream(request, GenerationStats())
            assert await anext(first)
            sent = len(state.bodies)
            second_stats = GenerationStats()
            second = asyncio.ensure_future(collect(b, GenerationRequest(FIM, max_tokens=4, fim=FimParts("a", "")),
                                                   second_stats))
            await asyncio.sleep(0.5)
            assert len(state.bodies) == sent and not second.done()  # it waits its turn
            if isinstance(b, LlamaServerBackend):
                assert await b.prefill("", num_ctx=4096, max_tokens=8, fim=FimParts("x = ", "")) == 0
                assert len(state.bodies) == sent  # the warm-up was skipped, not queued
            await first.aclose()
            assert (await asyncio.wait_for(second, 120)).strip() or second_stats.finish_reason == "stop"
            assert len(state.bodies) == sent + 1
        finally:
            await b.close()


async def test_a_request_stops_a_warm_up_that_holds_the_gate(server: tuple[str, ServerState]) -> None:
    """A warm-up is the lowest priority: a generation that comes while one is out cancels it and goes next, once the
    server is done with what the warm-up had sent (a server evaluating a prompt does not stop for a closed request,
    so sending at once would only queue behind it)."""
    from srag_lsp.models.base import FimParts
    from srag_lsp.models.llama_server_backend import LlamaServerBackend

    url, state = server
    b = LlamaServerBackend(url=url, key_env="TEAM_KEY")
    await b.start()
    try:
        state.fault = "stall"  # the warm-up's request is held by the server
        stalled = state.stalled
        warm = asyncio.ensure_future(b.prefill("", num_ctx=4096, max_tokens=8, fim=FimParts("x = ", "")))
        for _ in range(500):
            if state.stalled > stalled:
                break
            await asyncio.sleep(0.02)
        assert state.stalled == stalled + 1 and b.gate.busy()
        state.fault = ""
        sent = len(state.bodies)
        generation = asyncio.ensure_future(collect(b, GenerationRequest("", max_tokens=4, fim=FimParts("a = ", "")),
                                                   GenerationStats()))
        for _ in range(500):
            if warm.done():
                break
            await asyncio.sleep(0.02)
        assert warm.cancelled() and b.gate.settling() and len(state.bodies) == sent  # the server is still busy
        state.stall_release.set()  # the server gives up on the warm-up's request
        text = await asyncio.wait_for(generation, 60)
        assert text.strip() and len(state.bodies) == sent + 1
    finally:
        state.stall_release.set()
        await b.close()
