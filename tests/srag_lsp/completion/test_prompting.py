"""Building a model prompt: token healing moves the partial word out of the prompt for a backend that heals.

The backend is a scripted fake (tests/support/scripted.py) that records the requests it gets; the real model's
side of token healing is tested in tests/srag_lsp/models/test_embedded.py.
"""

from __future__ import annotations

from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.prompting import Generator, build_model_prompt, windows
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.models.base import BackendInfo
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer
from tests.support.scripted import ScriptedBackend


def request(typed: str = "ret") -> CompletionRequest:
    """The cursor at the end of ``typed``, the first word of an otherwise empty line."""
    return CompletionRequest(uri="file:///w/a.py", path="a.py", text=f"def total(items):\n    {typed}\n", line=1,
                             col=4 + len(typed), version=1, language="python")


def test_a_healing_generator_moves_the_partial_word_to_the_forced_start() -> None:
    backend = ScriptedBackend(lambda prompt: [])
    full, _ = windows(request(), Settings())
    healed = build_model_prompt(Generator(backend, "qwen", heals=True), request(), full, [], "w")
    plain = build_model_prompt(Generator(backend, "qwen"), request(), full, [], "w")
    assert healed.forced == " ret" and "def total(items):\n   <|fim_suffix|>" in healed.text
    assert plain.forced == "" and "def total(items):\n    ret<|fim_suffix|>" in plain.text


def test_a_key_typed_into_the_word_asks_the_same_prompt() -> None:
    backend = ScriptedBackend(lambda prompt: [])
    generator = Generator(backend, "qwen", heals=True)
    prompts = [build_model_prompt(generator, request(typed), windows(request(typed), Settings())[0], [], "w")
               for typed in ("r", "re", "ret")]
    assert len({p.text for p in prompts}) == 1
    assert [p.forced for p in prompts] == [" r", " re", " ret"]


def test_healing_needs_the_setting_and_a_backend_that_honours_it() -> None:
    healing = ScriptedBackend(lambda prompt: [])
    healing.info = BackendInfo(backend="embedded", model="qwen2.5-coder-0.5b", fim=True, heals=True)
    server = ScriptedBackend(lambda prompt: [], backend="llama-server")
    assert Generator.for_backend(healing, "auto").heals
    assert not Generator.for_backend(healing, "auto", token_healing=False).heals
    assert not Generator.for_backend(server, "auto").heals


async def test_the_generation_request_carries_the_forced_start_and_the_confidence_cut() -> None:
    backend = ScriptedBackend(lambda prompt: ["urn sum(items)\n"])
    generator = Generator(backend, "qwen", heals=True)
    engine = CompletionEngine(generator, generator, Settings(trace=False, strategy="local"), Tracer(None), None)
    seen: list[Suggestion] = []
    await engine.run(request(), seen.append)
    assert backend.requests and all(r.forced == " ret" for r in backend.requests)
    assert all(r.min_token_p == Settings().confidence_cut for r in backend.requests)
    assert seen[-1].text == "urn sum(items)"
