"""Every backend (the real ones and the tests' fake) declares the whole ``ModelBackend`` protocol."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from srag_lsp.models.base import ModelBackend
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.ollama_backend import OllamaBackend
from tests.support.scripted import ScriptedBackend

CAPABILITIES = ("prefill", "score", "cached_share")


def _backends(tmp_path: Path) -> list[object]:
    return [
        EmbeddedBackend("qwen2.5-coder-0.5b", model_dir=tmp_path),
        OllamaBackend(host="http://127.0.0.1:9", model="qwen2.5-coder:1.5b-base"),
        ScriptedBackend(lambda prompt: []),
    ]


async def test_every_backend_is_a_model_backend_with_the_protocols_signatures(tmp_path: Path) -> None:
    for backend in _backends(tmp_path):
        assert isinstance(backend, ModelBackend)
        assert backend.warnings == []  # type: ignore[attr-defined]
        for name in CAPABILITIES:
            ours = inspect.signature(getattr(backend, name))
            protocol = inspect.signature(getattr(ModelBackend, name))
            assert list(ours.parameters) == list(protocol.parameters)[1:], (type(backend).__name__, name)
            assert [p.kind for p in ours.parameters.values()] == [p.kind for p in protocol.parameters.values()][1:]
            assert inspect.iscoroutinefunction(getattr(backend, name)) == (name != "cached_share")


async def test_ollama_cannot_prefill_score_or_tell_its_cache() -> None:
    backend = OllamaBackend(host="http://127.0.0.1:9", model="qwen2.5-coder:1.5b-base")
    assert await backend.prefill("x = 1\n", num_ctx=4096, max_tokens=64) == 0
    assert await backend.score("x = ", ["1\n", "2\n"]) is None
    assert backend.cached_share("x = 1\n") is None
    await backend.close()


async def test_an_unloaded_embedded_backend_prefills_nothing_and_holds_nothing(tmp_path: Path) -> None:
    backend = EmbeddedBackend("qwen2.5-coder-0.5b", model_dir=tmp_path)
    assert await backend.prefill("x = 1\n", num_ctx=4096, max_tokens=64) == 0
    assert backend.cached_share("x = 1\n") == 0.0
    with pytest.raises(Exception, match="not loaded"):
        await backend.score("x = ", ["1\n"])
