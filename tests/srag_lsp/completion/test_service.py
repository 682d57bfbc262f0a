"""Request coordination with the real engine and model: re-triggers from cache, typing through.

Superseding and continuing a running generation are tested exactly with a scripted backend (test_service_logic.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from srag_lsp.completion.engine_source import FixedEngine
from srag_lsp.completion.request import CompletionRequest
from srag_lsp.completion.service import CompletionService
from srag_lsp.settings import Settings
from tests.srag_lsp.completion.test_engine import checkout_request, engine_for

pytestmark = pytest.mark.model


async def test_retrigger_is_cached_and_typing_through_needs_no_model_call(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = engine_for(root, index_dir, backends, tmp_path)
    service = CompletionService(FixedEngine(engine), Settings(trace=False, debounce_ms=0))
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
