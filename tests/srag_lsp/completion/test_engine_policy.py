"""The engine's state machine (draft, refine, keep, drop, skip, cancel) driven by a scripted fake backend.

The backend and retrieval here are fakes (tests/support/scripted.py): the test decides each word the "model"
writes and when retrieval lands, so every branch of the policy is exercised exactly, on any CPU.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.prompting import Generator
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.models.base import FimParts
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer
from tests.support.scripted import FakeChunk, FakeUpdate, ScriptedBackend, ScriptedContext
from tests.support.waiting import wait_until_async

CHECKOUT = (Path(__file__).resolve().parents[3] / "examples" / "shop" / "checkout.py").read_text()
APPLY = FakeChunk("pricing:apply_discount", "pricing.py",
                  "def apply_discount(amount: float, percent: float) -> float:\n"
                  "    return amount * (1 - percent / 100)",
                  "apply_discount")
UNRELATED = FakeChunk("util:slugify", "util.py", "def slugify(text: str) -> str:\n    return text.lower()", "slugify")


def request(text: str = CHECKOUT, version: int = 1) -> CompletionRequest:
    line = next(i for i, ln in enumerate(text.split("\n")) if ln.startswith("    discounted = "))
    return CompletionRequest(uri="file:///shop/checkout.py", path="checkout.py", text=text, line=line, col=17,
                             version=version, language="python")


def scripted(draft: list[str], refined: list[str], **kwargs: object) -> ScriptedBackend:
    """Context-aware prompts (they name a context file) get ``refined``; local ones get ``draft``."""
    return ScriptedBackend(lambda prompt: refined if "<|file_sep|>pricing.py" in prompt else draft, **kwargs)  # type: ignore[arg-type]


def engine(backend: ScriptedBackend, context: ScriptedContext | None, **settings: object) -> CompletionEngine:
    values: dict[str, object] = {"trace": False, **settings}
    generator = Generator(backend, "qwen")
    return CompletionEngine(generator, generator, Settings(**values), Tracer(None), context,  # type: ignore[arg-type]
                            repo_name="shop")


async def run(eng: CompletionEngine, req: CompletionRequest | None = None,
              on_text: asyncio.Event | None = None) -> tuple[list[Suggestion], object]:
    seen: list[Suggestion] = []

    def emit(s: Suggestion) -> None:
        seen.append(s)
        if on_text is not None and s.text.strip():
            on_text.set()

    outcome = await eng.run(req or request(), emit)
    return seen, outcome


async def test_draft_shows_before_retrieval_and_a_refinement_that_extends_it_replaces_it() -> None:
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(", "subtotal, ", "coupon_percent)\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    context.gate.clear()  # retrieval lands only once the draft is on screen
    seen, outcome = await run(engine(backend, context), on_text=context.gate)
    stages = [s.stage for s in seen]
    assert stages[0] == "draft" and stages[-1] == "refined", stages
    assert outcome.suggestion.text == "apply_discount(subtotal, coupon_percent)"
    assert seen[-1].final and sum(s.final for s in seen) == 1
    trace = outcome.trace
    assert trace.events["first_visible"] < trace.events["retrieval_first"] <= trace.refinements[0]["start_ms"]
    assert "<|repo_name|>shop\n<|file_sep|>pricing.py\n" in backend.prompts[-1]


async def test_a_refinement_without_evidence_leaves_the_draft_on_screen() -> None:
    backend = scripted(["subtotal * 0.9\n"], ["discounted - coupon_percent * discounted\n"])
    seen, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])))
    assert len(backend.prompts) == 2  # the draft, and a refinement (the file imports apply_discount)
    assert outcome.suggestion.text == "subtotal * 0.9" and outcome.suggestion.stage == "draft"
    assert all(s.stage == "draft" for s in seen)
    assert outcome.trace.flags["kept_shown"] == "no evidence that what is shown is wrong"


async def test_a_refinement_that_uses_a_name_the_context_defines_replaces_the_draft() -> None:
    backend = scripted(["subtotal * (1 - coupon_percent / 100)\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    _, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])))
    assert outcome.suggestion.text == "apply_discount(subtotal, coupon_percent)"
    assert outcome.suggestion.stage == "refined"
    replace = [d for d in outcome.trace.flags["decisions"] if d["what"] == "replace"]
    assert replace and replace[0]["yes"] and "apply_discount" in replace[0]["reason"]


async def test_a_draft_naming_what_the_workspace_lacks_is_refined_and_replaced() -> None:
    backend = scripted(["discount_price(subtotal)\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    context = ScriptedContext([])
    _, outcome = await run(engine(backend, context))
    # The workspace defines no "discount_price"; with no context found there is nothing to refine with.
    assert outcome.trace.flags["unknown_in_draft"] == ["discount_price"]
    assert outcome.suggestion.text == "discount_price(subtotal)"  # no context was found to refine with
    context.updates = [FakeUpdate("symbol", 3.0, [APPLY])]
    _, outcome = await run(engine(backend, context))
    assert outcome.suggestion.text == "apply_discount(subtotal, coupon_percent)"
    replace = [d for d in outcome.trace.flags["decisions"] if d["what"] == "replace"]
    assert replace and replace[0]["yes"], outcome.trace.flags["decisions"]


async def test_context_that_defines_no_name_in_play_starts_no_refinement() -> None:
    backend = scripted(["subtotal * 0.9\n"], ["never asked\n"])
    _, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("fts", 3.0, [UNRELATED])])))
    assert len(backend.prompts) == 1
    assert outcome.suggestion.text == "subtotal * 0.9"
    decisions = outcome.trace.flags["decisions"]
    assert decisions == [{**decisions[0], "what": "refine", "yes": False, "reason": "context defines no name in play"}]


async def test_the_draft_is_skipped_when_the_context_prompt_is_already_cached() -> None:
    backend = scripted(["never asked\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    backend.share = 0.95
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])], cached_chunks=[APPLY])
    seen, outcome = await run(engine(backend, context))
    assert outcome.trace.flags["skipped_draft"] is True
    assert {s.stage for s in seen} == {"refined"}
    assert len(backend.prompts) == 1 and "<|file_sep|>pricing.py" in backend.prompts[0]


async def test_a_cached_context_prompt_that_the_model_does_not_hold_still_drafts_first() -> None:
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(subtotal, coupon_percent)\n"])
    backend.share = 0.1
    context = ScriptedContext([], cached_chunks=[APPLY])
    seen, outcome = await run(engine(backend, context))
    assert seen[0].stage == "draft" and not outcome.trace.flags.get("skipped_draft")
    assert outcome.suggestion.stage == "refined"


async def test_cancelling_a_run_closes_the_model_stream_and_is_traced() -> None:
    backend = scripted(["a", "b", "c", "d"], [], stepping=True)
    eng = engine(backend, ScriptedContext())
    seen: list[Suggestion] = []
    task = asyncio.create_task(eng.run(request(), seen.append))
    backend.step()
    await wait_until_async(lambda: seen, 10, "the first piece shown")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert backend.cancelled == 1
    trace = eng.tracer.recent[-1]
    assert trace["flags"]["cancelled"] is True and trace["numbers"]["generated_tokens"] == 1


async def test_chunks_that_copy_the_code_being_completed_are_never_pinned() -> None:
    quote = FakeChunk("tests:test_checkout", "tests/test_checkout.py",
                      '    """Subtotal, minus the coupon, plus tax."""\n    subtotal = cart.subtotal()\n'
                      "    discounted = subtotal - coupon_percent\n", "test_checkout")
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(subtotal, coupon_percent)\n"])
    _, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("fts", 3.0, [quote, APPLY])])))
    assert [c.path for c in outcome.chunks] == ["pricing.py"]  # type: ignore[attr-defined]
    assert outcome.trace.flags["dropped_copies"] == 1  # type: ignore[attr-defined]
    assert all("test_checkout" not in p for p in backend.prompts)


async def test_pinned_context_stays_put_while_the_user_types_and_grows_in_order_elsewhere() -> None:
    tax = FakeChunk("pricing:add_tax", "pricing.py", "def add_tax(amount: float, region: str) -> float: ...", "add_tax")
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(subtotal, coupon_percent)\n"])
    eng = engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])]))
    await run(eng)
    first_context = backend.prompts[-1].split("<|file_sep|>checkout.py")[0]
    eng.retrieval = ScriptedContext([FakeUpdate("symbol", 3.0, [tax, APPLY])])  # re-ranked by retrieval
    typed = CHECKOUT.replace("    discounted = ", "    discounted = a")
    req = request(typed, version=2)
    req.col = 18
    await run(eng, req)
    # Typing on in the same place: the context part of the prompt is exactly what it was (its KV cache holds).
    assert all(p.startswith(first_context) or "pricing.py" not in p for p in backend.prompts)
    assert "def add_tax" not in backend.prompts[-1]
    # Elsewhere in the file, new context is appended after what was pinned, never re-ranked.
    far = "\n" * 10 + typed
    req = request(far, version=3)
    req.col = 18
    await run(eng, req)
    last = backend.prompts[-1]
    assert last.index("def apply_discount") < last.index("def add_tax")
    assert last.count("<|file_sep|>pricing.py") == 1  # one file, named once


def _typed(chars: str, version: int) -> CompletionRequest:
    req = request(CHECKOUT.replace("    discounted = ", "    discounted = " + chars), version=version)
    req.col = 17 + len(chars)
    return req


@pytest.mark.parametrize(("chars", "joins"), [("ap", True), ("zz", False), ("a", False)])
async def test_the_chunk_that_defines_the_name_being_typed_joins_the_frozen_context(chars: str, joins: bool) -> None:
    """The place's board opened at the line's start with what retrieval knew then (an unrelated chunk). Two
    characters into a name, the chunk that defines it joins the prompt although the board is frozen; a chunk
    that defines no name the line types does not, nor does anything after one character."""
    backend = scripted(["subtotal", "\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    eng = engine(backend, ScriptedContext([FakeUpdate("fts", 3.0, [UNRELATED])]))
    await run(eng)
    assert [c.id for c in eng.pinboard.pinned("file:///shop/checkout.py")] == ["util:slugify"]
    eng.retrieval = ScriptedContext([FakeUpdate("symbol", 3.0, [UNRELATED, APPLY])])
    _, outcome = await run(eng, _typed(chars, 2))
    pinned = [c.id for c in eng.pinboard.pinned("file:///shop/checkout.py")]
    flags = outcome.trace.flags  # type: ignore[attr-defined]
    if joins:
        assert pinned == ["util:slugify", "pricing:apply_discount"]  # appended after what was pinned
        assert flags["pinned_for_typed_name"] == ["apply_discount"]
        assert any("def apply_discount" in p for p in backend.prompts)  # a refinement with it ran
    else:
        assert pinned == ["util:slugify"] and "pinned_for_typed_name" not in flags


async def test_typing_into_a_name_retrieves_again_where_the_context_is_pinned() -> None:
    """Typing on where the context prompt is cached: retrieval is skipped after punctuation, but not two characters
    into a name (its definition may be new to the prompt)."""
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(subtotal, coupon_percent)\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    eng = engine(backend, context)
    await run(eng)
    backend.share = 0.95
    context.cached_chunks = [APPLY]
    await run(eng, _typed("(", 2))
    assert context.streamed == 1
    await run(eng, _typed("(su", 3))
    assert context.streamed == 2


async def test_typing_on_where_the_context_is_pinned_runs_no_retrieval() -> None:
    """A keystroke in a place whose context is pinned and frozen: retrieval could add nothing, so it is skipped."""
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(subtotal, coupon_percent)\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    eng = engine(backend, context)
    await run(eng)
    assert context.streamed == 1
    backend.share = 0.95  # the model holds the context prompt now
    context.cached_chunks = [APPLY]
    typed = CHECKOUT.replace("    discounted = ", "    discounted = a")
    req = request(typed, version=2)
    req.col = 18
    _, outcome = await run(eng, req)
    assert context.streamed == 1
    assert outcome.trace.flags["skipped_draft"] is True  # type: ignore[attr-defined]
    assert "retrieval_skipped" in outcome.trace.flags  # type: ignore[attr-defined]
    # A new place opens the board again: retrieval runs there.
    far = request("\n" * 10 + typed, version=3)
    far.col = 18
    await run(eng, far)
    assert context.streamed == 2


async def test_sequential_retrieves_then_generates_once_with_the_context() -> None:
    backend = scripted(["never asked\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    seen, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])]),
                                     strategy="sequential"))
    assert len(backend.prompts) == 1 and {s.stage for s in seen} == {"refined"}
    assert outcome.trace.events["retrieval_done"] < outcome.trace.events["first_model_call"]


async def test_local_never_retrieves() -> None:
    backend = scripted(["subtotal * 0.9\n"], ["never asked\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    _, outcome = await run(engine(backend, context, strategy="local"))
    assert context.streamed == 0 and outcome.suggestion.text == "subtotal * 0.9"


class ScoringBackend(ScriptedBackend):
    """A scripted fake that also scores continuations (as the embedded backend does with log-probabilities)."""

    def __init__(self, *args: object, scores: dict[str, float], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.scores = scores
        self.scored: list[list[str]] = []

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float]:
        self.scored.append(continuations)
        return [self.scores.get(c, -5.0) for c in continuations]


@pytest.mark.parametrize(("refined_score", "replaced"), [(-0.2, True), (-1.1, True), (-1.5, False)])
async def test_without_evidence_in_the_names_the_context_prompt_scores_both_texts(refined_score: float,
                                                                                  replaced: bool) -> None:
    draft, refined = "subtotal * 0.9", "discounted - coupon_percent * discounted"
    backend = ScoringBackend(lambda p: [refined + "\n"] if "<|file_sep|>pricing.py" in p else [draft + "\n"],
                             scores={draft + "\n": -1.2, refined + "\n": refined_score})
    _, outcome = await run(engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])))
    # Both are scored as the model writes them: the line ends with its break (the cursor is at the line's end).
    assert backend.scored == [[draft + "\n", refined + "\n"]]
    assert outcome.suggestion.text == (refined if replaced else draft)
    assert outcome.trace.numbers["score_margin"] == pytest.approx(refined_score + 1.2, abs=1e-3)
    last = [d for d in outcome.trace.flags["decisions"] if d["what"] == "replace"][-1]
    assert last["yes"] is replaced and ("margin" in last["reason"] or "prefers" in last["reason"])


async def test_a_secret_in_the_buffer_or_the_context_never_reaches_a_prompt() -> None:
    key = "AKIAIOSFODNN7EXAMPLE"
    leaky = FakeChunk("settings:KEY", "settings_local.py", f'AWS_ACCESS_KEY_ID = "{key}"', "AWS_ACCESS_KEY_ID")
    text = CHECKOUT.replace('"""Subtotal', f'aws = "{key}"  # left here by mistake\n    """Subtotal')
    backend = scripted(["subtotal * 0.9\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    await run(engine(backend, ScriptedContext([FakeUpdate("symbol", 3.0, [leaky, APPLY])])), request(text))
    assert backend.prompts and all(key not in p for p in backend.prompts)


async def test_a_draft_from_the_small_window_is_widened_and_judged_by_score() -> None:
    """A cold place: the draft saw a few lines; the whole window is tried even without context, and its text
    replaces the draft only if the whole prompt prefers it (scored: a fake score here)."""
    long_file = "\n".join(f"value_{i} = compute({i})" for i in range(80)) + "\n" + CHECKOUT
    draft, wider = "subtotal - 1", "subtotal * 0.9"
    backend = ScoringBackend(lambda p: [wider + "\n"] if "value_40" in p else [draft + "\n"],
                             scores={draft + "\n": -2.0, wider + "\n": -0.5})
    _, outcome = await run(engine(backend, ScriptedContext()), request(long_file))
    assert len(backend.prompts) == 2 and "value_40" not in backend.prompts[0]
    assert outcome.suggestion.text == wider
    refine = next(d for d in outcome.trace.flags["decisions"] if d["what"] == "refine")
    assert refine["yes"] and "the draft saw" in refine["reason"]


async def test_a_warm_up_at_a_new_place_pins_its_context_and_prefills_both_prompts() -> None:
    """Where the cursor rests (``srag/cursor``), the warm-up prefills the draft's prompt, then retrieves and pins
    the place's context and prefills the context-aware prompt; at the same place again it retrieves nothing."""
    backend = scripted(["subtotal\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    eng = engine(backend, context)
    await eng.warm(request())
    assert context.streamed == 1
    assert [c.id for c in eng.pinboard.pinned("file:///shop/checkout.py")] == ["pricing:apply_discount"]
    assert len(backend.prefilled) == 2
    assert "pricing.py" not in backend.prefilled[0] and "def apply_discount" in backend.prefilled[1]
    await eng.warm(request())
    assert context.streamed == 1 and len(backend.prefilled) == 4


async def test_typing_into_a_name_at_a_pinned_place_retrieves_once_the_draft_shows_text() -> None:
    """Scripted backend, stepped by the test: at a place whose context is pinned, a key typed into a name retrieves
    only after the draft has shown text (the draft's prompt gets the cores first), and the chunk it finds for the
    name still joins the context."""
    backend = scripted(["subtotal", "\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    eng = engine(backend, ScriptedContext([FakeUpdate("fts", 3.0, [UNRELATED])]))
    await run(eng)
    stepped = scripted(["ply", "_discount(", "subtotal)\n"], ["apply_discount(subtotal, coupon_percent)\n"],
                       stepping=True)
    stepped.share = 0.9  # the draft's slot holds its prompt (typing on here); the refinement's does not
    eng.draft = Generator(stepped, "qwen")
    eng.refine = Generator(scripted([], ["apply_discount(subtotal, coupon_percent)\n"]), "qwen")
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [UNRELATED, APPLY])])
    eng.retrieval = context
    task = asyncio.create_task(run(eng, _typed("ap", 2)))
    await wait_until_async(lambda: len(stepped.prompts) == 1, 10, "the draft's generation")
    assert context.streamed == 0  # nothing shown yet: retrieval waits
    stepped.step(1)
    await wait_until_async(lambda: context.streamed == 1, 10, "retrieval after the draft's first text")
    stepped.step(10)
    _, outcome = await asyncio.wait_for(task, 10)
    assert outcome.trace.flags["retrieval_after_draft"] is True  # type: ignore[attr-defined]
    assert "pricing:apply_discount" in [c.id for c in eng.pinboard.pinned("file:///shop/checkout.py")]


async def test_typing_into_a_name_at_a_new_place_retrieves_at_once() -> None:
    """Scripted backend, stepped by the test: where the draft's prompt is not cached (a new place, typed at once),
    the draft shows nothing before the next key, so a key typed into a name retrieves without waiting for it."""
    backend = scripted(["subtotal", "\n"], ["apply_discount(subtotal, coupon_percent)\n"])
    eng = engine(backend, ScriptedContext([FakeUpdate("fts", 3.0, [UNRELATED])]))
    await run(eng)
    stepped = scripted(["ply", "_discount(", "subtotal)\n"], ["apply_discount(subtotal, coupon_percent)\n"],
                       stepping=True)  # share 0.0: nothing of the draft's prompt is cached
    eng.draft = eng.refine = Generator(stepped, "qwen")
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [UNRELATED, APPLY])])
    eng.retrieval = context
    task = asyncio.create_task(run(eng, _typed("ap", 2)))
    await wait_until_async(lambda: "pricing:apply_discount" in [c.id for c in eng.pinboard.pinned(
        "file:///shop/checkout.py")], 10, "the name's chunk pinned before the draft shows anything")
    assert len(stepped.prompts) == 1  # the draft was asked; not stepped yet, it has written nothing
    stepped.step(10)
    _, outcome = await asyncio.wait_for(task, 10)
    assert "retrieval_after_draft" not in outcome.trace.flags  # type: ignore[attr-defined]


async def test_the_confidence_cut_is_asked_of_the_draft_and_not_of_a_refinement() -> None:
    # The scripted fake records each request: the draft (local window) ends where the model is unsure; the
    # refinement, the context-aware text a resting user gets, writes its whole line.
    backend = scripted(["apply_discount(", "subtotal, "], ["apply_discount(", "subtotal, ", "coupon_percent)\n"])
    context = ScriptedContext([FakeUpdate("symbol", 3.0, [APPLY])])
    context.gate.clear()
    await run(engine(backend, context), on_text=context.gate)
    cuts = {"pricing.py" in r.prompt: r.min_token_p for r in backend.requests}
    assert cuts == {False: Settings().confidence_cut, True: 0.0}
