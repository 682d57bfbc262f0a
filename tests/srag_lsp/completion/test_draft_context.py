"""With ``draftContext`` on, the draft's prompt carries the place's pinned context once its KV cache holds the
window, and asks the backend to grow it in front (``completion/draft_context``); at a new place the window goes
first, and the setting is off by default. Driven by scripted fake backends that say what their cache holds."""

from __future__ import annotations

from collections.abc import Sequence

from srag_lsp.models.base import FimParts
from srag_lsp.settings import Settings
from tests.srag_lsp.completion.test_cold_place import GrowingBackend, window_lines
from tests.srag_lsp.completion.test_engine_policy import engine, request, run
from tests.support.scripted import FakeChunk, ScriptedContext

ON = {"draft_context": True}  # the opt-in setting these tests are about
PRICING = FakeChunk("p1", "pricing.py", "def apply_discount(subtotal, percent):\n    return subtotal\n",
                    "apply_discount")


def pinned() -> ScriptedContext:
    """Retrieval whose cache has the place's context: the engine pins it before the draft starts."""
    return ScriptedContext([], cached_chunks=[PRICING])


async def first_draft(backend: GrowingBackend, **settings: object) -> tuple[str, dict[str, float]]:
    _seen, outcome = await run(engine(backend, pinned(), **{**ON, **settings}))
    return backend.prompts[0], outcome.trace.numbers  # type: ignore[attr-defined]


async def test_a_draft_whose_window_is_cached_carries_the_pinned_context_and_grows_it_in_front() -> None:
    backend = GrowingBackend()
    backend.shifted = 200  # the window is in the cache, further on than the prompt with chunks has it
    prompt, numbers = await first_draft(backend)
    assert "<|file_sep|>pricing.py" in prompt and numbers["draft_context_chunks"] == 1
    assert prompt.index("pricing.py") < prompt.index("<|fim_prefix|>")
    assert backend.grow[0] == Settings().draft_grow_tokens


async def test_at_a_new_place_the_window_goes_first() -> None:
    backend = GrowingBackend()  # nothing of this place in the cache
    prompt, numbers = await first_draft(backend)
    assert "pricing.py" not in prompt and "draft_context_chunks" not in numbers
    assert window_lines(prompt) >= 7  # the whole draft window: the context setting is no cold start
    assert backend.grow[0] == Settings().draft_grow_tokens  # later keys grow it


async def test_it_is_off_by_default() -> None:
    backend = GrowingBackend()
    backend.shifted = 200
    prompt, _numbers = await first_draft(backend, draft_context=Settings().draft_context)
    assert Settings().draft_context is False
    assert "pricing.py" not in prompt and backend.grow[0] is None


async def test_a_warm_up_grows_the_drafts_context_in_front_of_its_window() -> None:
    backend = GrowingBackend()
    backend.shifted = 200
    eng = engine(backend, pinned(), **ON)
    await run(eng)  # pins the context to the document
    backend.prefilled.clear()
    await eng.warm(request())
    with_context = [p for p in backend.prefilled if "pricing.py" in p and p.count("<|file_sep|>") == 2]
    assert with_context, backend.prefilled
    first_plain = next(i for i, p in enumerate(backend.prefilled) if "pricing.py" not in p)
    assert first_plain < backend.prefilled.index(with_context[0])  # the window first, then its context


class Cache:
    """A fake backend's cache of one prompt text: the share it holds as a prefix, and a run held further on."""

    def __init__(self, held: str, shifted: int = 0) -> None:
        self.held, self.shifted = held, shifted

    def shifted_chars(self, prompt: str) -> int:
        return self.shifted

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        n = 0
        while n < min(len(prompt), len(self.held)) and prompt[n] == self.held[n]:
            n += 1
        return n / len(prompt)


def prompt_of(chunks: Sequence[object]) -> str:
    context = "".join("<|file_sep|>pricing.py\ndef apply_discount(): ...\n" for _ in chunks)
    return f"<|repo_name|>shop\n{context}<|file_sep|>checkout.py\n<|fim_prefix|>def total():\n    return "


async def test_the_cheaper_prompt_wins() -> None:
    from srag_lsp.completion.draft_context import draft_chunks

    settings = Settings(draft_context=True)
    grown = Cache(prompt_of([PRICING]))  # the draft's context has grown in whole
    assert draft_chunks(settings, [PRICING], grown, prompt_of) == [PRICING]  # type: ignore[arg-type]
    window_only = Cache(prompt_of([]))  # the window alone, not yet grown (shifted_chars would see it)
    assert draft_chunks(settings, [PRICING], window_only, prompt_of) == []  # type: ignore[arg-type]
    window_only.shifted = 60
    assert draft_chunks(settings, [PRICING], window_only, prompt_of) == [PRICING]  # type: ignore[arg-type]
    elsewhere = Cache("<|repo_name|>shop\n<|file_sep|>other.py\n")
    assert draft_chunks(settings, [PRICING], elsewhere, prompt_of) == []  # type: ignore[arg-type]
    assert draft_chunks(settings, [], grown, prompt_of) == []  # type: ignore[arg-type]

