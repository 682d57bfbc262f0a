"""The streaming engine with the real model and real retrieval over a real index of examples/shop.

These check what any build must do, not the model's words (they change with the CPU and build flags; the
policy's branches are tested exactly with a scripted backend in test_engine_policy.py). The only injected faults
are a gate that holds retrieval until the draft shows, and a dead model server.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from srag_lsp.completion.engine import CompletionEngine, Generator
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.ollama_backend import OllamaBackend
from srag_lsp.retrieval.provider import open_workspace_retrieval
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer
from tests.support.waiting import wait_until_async

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "shop"
CHECKOUT = "checkout.py"


def engine_for(root: Path, index_dir: Path, backends: tuple[EmbeddedBackend, EmbeddedBackend], tmp_path: Path,
               **overrides: object) -> CompletionEngine:
    values: dict[str, object] = {"max_tokens": 20, "draft_max_tokens": 16, "cache_dir": str(tmp_path), **overrides}
    settings = Settings(**values)  # type: ignore[arg-type]
    context = open_workspace_retrieval(settings, root, index_dir)
    draft, refine = backends
    return CompletionEngine(Generator.for_backend(draft, "auto"), Generator.for_backend(refine, "auto"), settings,
                            Tracer(tmp_path / "traces"), context, repo_name="shop")


async def primed(engine: CompletionEngine, root: Path) -> CompletionEngine:
    """As a running daemon is: the index open and the workspace listed before the keystroke (on a loaded machine
    a cold first retrieval can miss its deadline, and that is another test's business)."""
    assert engine.retrieval is not None
    async for _ in engine.retrieval.stream(checkout_request(root), deadline_ms=60_000, budget_tokens=600):
        pass
    return engine


def checkout_request(root: Path) -> CompletionRequest:
    text = (root / CHECKOUT).read_text()
    line = text.split("\n").index("    discounted = ")
    return CompletionRequest(uri=(root / CHECKOUT).as_uri(), path=CHECKOUT, text=text, line=line, col=17,
                             version=1, language="python")


pytestmark = pytest.mark.model


class GatedContext:
    """Fault injection: retrieval is held back until the draft has shown text (a slow retrieval, made exact)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.gate = asyncio.Event()

    def cached(self, request):  # type: ignore[no-untyped-def]
        return self.inner.cached(request)

    async def stream(self, request, **kwargs):  # type: ignore[no-untyped-def]
        await self.gate.wait()
        async for update in self.inner.stream(request, **kwargs):
            yield update

    async def lookup_names(self, names):  # type: ignore[no-untyped-def]
        return await self.inner.lookup_names(names)


async def test_draft_first_then_a_final_suggestion_with_workspace_context(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = await primed(engine_for(root, index_dir, backends, tmp_path), root)
    gated = GatedContext(engine.retrieval)
    engine.retrieval = gated  # type: ignore[assignment]
    seen: list[Suggestion] = []

    def emit(s: Suggestion) -> None:
        seen.append(s)
        if s.text.strip():
            gated.gate.set()

    outcome = await engine.run(checkout_request(root), emit)
    stages = [s.stage for s in seen]
    assert stages[0] == "draft", stages
    assert seen[-1].final and seen[-1].done and seen[-1].text == outcome.suggestion.text
    assert sum(1 for s in seen if s.final) == 1
    trace = outcome.trace
    # The draft was visible before retrieval landed; what happened next is the policy's (and says why).
    assert trace.events["first_visible"] < trace.events["retrieval_first"]
    assert any(c.symbol in ("apply_discount", "add_tax") for c in outcome.chunks)
    assert trace.flags["decisions"] and all(d["reason"] for d in trace.flags["decisions"])
    # checkout.py imports apply_discount and add_tax: context that defines them is worth a refinement, so one
    # started, and only once retrieval had landed.
    assert trace.refinements, trace.flags["decisions"]
    assert trace.events["retrieval_first"] <= trace.refinements[0]["start_ms"]
    assert outcome.suggestion.text.strip() and "\n" not in outcome.suggestion.text
    assert trace.numbers["prompt_tokens"] > 0


async def test_sequential_generates_once_with_context(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = await primed(engine_for(root, index_dir, backends, tmp_path, strategy="sequential"), root)
    seen: list[Suggestion] = []
    outcome = await engine.run(checkout_request(root), seen.append)
    assert {s.stage for s in seen} == {"refined"}
    assert outcome.trace.events["retrieval_done"] < outcome.trace.events["first_model_call"]
    assert outcome.chunks and outcome.suggestion.text.strip()


async def test_a_warmed_context_prompt_answers_without_a_draft(shop, backends, tmp_path: Path) -> None:
    """Typing on in a place whose context is pinned: the warm-up prefilled that prompt, so no draft is needed."""
    root, index_dir = shop
    engine = await primed(engine_for(root, index_dir, backends, tmp_path), root)
    await engine.run(checkout_request(root), lambda s: None)  # pins this place's context
    assert engine.pinboard.pinned(checkout_request(root).uri)
    # The refine slot holds some other prompt: a full prefill would be slow, so the draft still goes first.
    other = "<|fim_prefix|>x = 1<|fim_suffix|><|fim_middle|>"
    async for _ in engine.refine.backend.stream(GenerationRequest(other, max_tokens=1), GenerationStats()):
        pass
    seen: list[Suggestion] = []
    outcome = await engine.run(checkout_request(root), seen.append)
    assert seen[0].stage == "draft" and not outcome.trace.flags.get("skipped_draft")
    # That run's refinement may have left the context-aware prompt in the refine slot: evict it again, so that
    # only the warm-up can put it back.
    async for _ in engine.refine.backend.stream(GenerationRequest(other, max_tokens=1), GenerationStats()):
        pass
    # A warm-up (what the daemon does when the user idles) evaluates the context-aware prompt into the KV cache...
    assert await engine.warm(checkout_request(root)) > 100
    # ...where it stays: warming the same place again has (almost) nothing left to evaluate.
    assert await engine.warm(checkout_request(root)) <= 2
    seen = []
    outcome = await engine.run(checkout_request(root), seen.append)
    assert outcome.trace.flags.get("skipped_draft") is True
    assert outcome.trace.numbers["cached_prompt_share"] >= 0.6
    assert seen and all(s.stage == "refined" for s in seen)
    assert outcome.trace.numbers["prompt_evaluated"] < 20  # the prompt came from the cache


async def test_cancelling_a_run_stops_generation_and_is_traced(shop, backends, tmp_path: Path) -> None:
    root, index_dir = shop
    engine = engine_for(root, index_dir, backends, tmp_path, max_tokens=300, draft_max_tokens=300,
                        retrieval_delay_ms=60000)
    request = checkout_request(root)
    request.text = "NUMBERS = [\n    1,\n    2,\n    "
    request.line, request.col, request.path = 3, 4, "numbers.py"
    seen: list[Suggestion] = []
    task = asyncio.create_task(engine.run(request, seen.append))
    await wait_until_async(lambda: seen, 300, "the first text shown")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = engine.tracer.recent[-1]
    assert record["flags"]["cancelled"] is True and "cancelled" in record["events"]
    assert record["numbers"]["generated_tokens"] < 300


async def test_dead_model_server_gives_an_empty_final_and_an_error(shop, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{s.getsockname()[1]}"
    dead = OllamaBackend(host=host, model="qwen2.5-coder:1.5b-base")  # never started: nothing listens there
    root, index_dir = shop
    settings = Settings(cache_dir=str(tmp_path))
    engine = CompletionEngine(Generator(dead, "qwen"), Generator(dead, "qwen"), settings, Tracer(None),
                              open_workspace_retrieval(settings, root, index_dir))
    seen: list[Suggestion] = []
    outcome = await engine.run(checkout_request(root), seen.append)
    assert outcome.suggestion.text == "" and seen[-1].final
    assert host in outcome.trace.flags["error"]

