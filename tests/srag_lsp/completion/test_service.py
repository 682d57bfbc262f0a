"""Request coordination with the real engine: re-triggers from cache, typing through, superseding."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from srag_lsp.completion.request import CompletionRequest
from srag_lsp.completion.service import CompletionService
from tests.srag_lsp.completion.test_engine import checkout_request, engine_for

pytestmark = pytest.mark.model


async def test_retrigger_is_cached_and_typing_through_needs_no_model_call(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = engine_for(root, index_dir, backends, tmp_path)
    service = CompletionService(lambda: engine, debounce_ms=lambda: 0)
    request = checkout_request(root)
    outcome = await service.run_to_end(request)
    assert outcome is not None
    text = outcome.suggestion.text
    assert len(text) > 3
    runs = len(engine.tracer.recent)
    # The same (uri, version, position) again: answered from the cache.
    assert await service.suggest(checkout_request(root), 1000) == text
    # Type the first two characters of the suggestion: the rest is the answer, no new run.
    typed = text[:2]
    lines = request.text.split("\n")
    lines[request.line] = lines[request.line][: request.col] + typed + lines[request.line][request.col:]
    after = CompletionRequest(uri=request.uri, path=request.path, text="\n".join(lines), line=request.line,
                              col=request.col + 2, version=2, language="python")
    assert await service.suggest(after, 1000) == text[2:]
    assert service.typed_through == 1 and not service.inflight
    assert len(engine.tracer.recent) == runs


async def test_a_newer_request_supersedes_the_running_one(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = engine_for(root, index_dir, backends, tmp_path, max_tokens=300, draft_max_tokens=300)
    service = CompletionService(lambda: engine, debounce_ms=lambda: 0)
    first = CompletionRequest(uri="file:///n.py", path="n.py", text="NUMBERS = [\n    1,\n    2,\n    ", line=3,
                              col=4, version=1, language="python")
    await service.suggest(first, 60_000)  # returns at the first line; generation goes on
    running = service.inflight[first.uri].task
    assert running is not None and not running.done()
    second = CompletionRequest(uri=first.uri, path="n.py", text=first.text + "3,\n    ", line=4, col=4, version=2,
                               language="python")
    task = asyncio.create_task(service.suggest(second, 60_000))
    with pytest.raises(asyncio.CancelledError):
        await running
    await task
    cancelled = [r for r in engine.tracer.recent if r["flags"].get("cancelled")]
    assert cancelled and cancelled[0]["numbers"]["generated_tokens"] < 300
    await service.close()
