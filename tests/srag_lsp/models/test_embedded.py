"""The embedded backend with the real model: tokens, stop sequences, prefix reuse, cancellation."""

from __future__ import annotations

import asyncio

import pytest

from srag_lsp.models.base import BackendError, GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend

pytestmark = pytest.mark.model

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


async def collect(backend: EmbeddedBackend, request: GenerationRequest, stats: GenerationStats) -> str:
    out = ""
    async for piece in backend.stream(request, stats):
        out += piece
    return out


async def test_real_tokens_and_stats(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=8, stop=["<|endoftext|>"]), stats)
    assert "a + b" in text
    assert stats.generated_tokens >= 1 and stats.prompt_tokens > 5
    assert stats.finish_reason in ("stop", "length")


async def test_stop_sequence_cuts_the_text(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    text = await collect(qwen, GenerationRequest(FIM, max_tokens=24, stop=["\n"]), stats)
    assert "\n" not in text and text.strip()
    assert stats.finish_reason == "stop"


async def test_prompt_that_extends_the_previous_one_reuses_the_cache(qwen: EmbeddedBackend) -> None:
    base = "<|fim_prefix|>import os\n\n\ndef list_python_files(folder):\n    "
    first = GenerationStats()
    await collect(qwen, GenerationRequest(base + "<|fim_suffix|><|fim_middle|>", max_tokens=2), first)
    second = GenerationStats()
    extended = base + "result = []\n    " + "<|fim_suffix|><|fim_middle|>"
    await collect(qwen, GenerationRequest(extended, max_tokens=2), second)
    assert second.prompt_tokens > first.prompt_tokens
    assert second.prompt_evaluated < second.prompt_tokens // 2, second


async def test_closing_the_stream_stops_generation(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()
    stream = qwen.stream(GenerationRequest("# A long story about the sea\n", max_tokens=300), stats)
    pieces = 0
    async for _ in stream:
        pieces += 1
        if pieces == 3:
            break
    await stream.aclose()
    # The worker thread notices the flag before its next token; the next request gets the model at once.
    follow = GenerationStats()
    await collect(qwen, GenerationRequest(FIM, max_tokens=2), follow)
    assert stats.finish_reason == "cancelled"
    assert stats.generated_tokens < 300


async def test_task_cancellation_stops_generation(qwen: EmbeddedBackend) -> None:
    stats = GenerationStats()

    async def consume() -> None:
        async for _ in qwen.stream(GenerationRequest("# Another long story\n", max_tokens=300), stats):
            pass

    task = asyncio.create_task(consume())
    while stats.generated_tokens < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await collect(qwen, GenerationRequest(FIM, max_tokens=1), GenerationStats())
    assert stats.finish_reason == "cancelled" and stats.generated_tokens < 300


async def test_unknown_model_is_a_clear_error(tmp_path) -> None:
    backend = EmbeddedBackend(str(tmp_path / "missing.gguf"), model_dir=tmp_path)
    with pytest.raises(BackendError, match="does not exist"):
        await backend.start()
    with pytest.raises(BackendError, match="not loaded"):
        async for _ in backend.stream(GenerationRequest("x")):
            pass
