"""With ``draftColdLines`` on (opt-in), the draft at a place its KV cache does not hold starts from the last few lines
and asks the backend to grow the window in front (``completion/cold_place``); off by default. Driven by a scripted
fake backend that says what its cache holds."""

from __future__ import annotations

from collections.abc import AsyncIterator

from srag_lsp.completion.request import Suggestion
from srag_lsp.models.base import FimParts, GenerationRequest, GenerationStats
from srag_lsp.settings import Settings
from tests.srag_lsp.completion.test_engine_policy import engine, request, run, scripted
from tests.support.scripted import ScriptedBackend, ScriptedContext


class GrowingBackend(ScriptedBackend):
    """A scripted fake that, like the embedded backend, can grow a prompt in front of its cache."""

    def __init__(self) -> None:
        super().__init__(lambda prompt: ["subtotal * 0.9\n"])
        self.shifted = 0  # what ``shifted_chars`` answers
        self.grow: list[int | None] = []
        self.order: list[str] = []  # "stream" and "prefill", in the order they were asked for

    def shifted_chars(self, prompt: str) -> int:
        return self.shifted

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        return self.share

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        self.grow.append(request.grow_tokens)
        self.order.append("stream")
        async for piece in super().stream(request, stats):
            yield piece


    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        self.order.append("prefill")
        self.grow.append(grow_tokens)
        return await super().prefill(prompt, num_ctx=num_ctx, max_tokens=max_tokens, fim=fim, grow_tokens=grow_tokens)


def window_lines(prompt: str) -> int:
    """Lines of the file in a draft prompt's window (those before the cursor's line)."""
    return prompt.split("<|fim_prefix|>", 1)[1].split("<|fim_suffix|>", 1)[0].count("\n")


COLD = {"draft_cold_lines": 3}  # the opt-in setting these tests are about


async def draft_prompt(backend: ScriptedBackend, **settings: object) -> tuple[str, dict[str, object]]:
    seen: list[Suggestion]
    seen, outcome = await run(engine(backend, ScriptedContext([]), **{**COLD, **settings}))
    assert seen and outcome.suggestion.text == "subtotal * 0.9"  # type: ignore[attr-defined]
    return backend.prompts[0], outcome.trace.flags  # type: ignore[attr-defined]


async def test_a_cold_place_drafts_from_its_last_lines_and_asks_to_grow() -> None:
    backend = GrowingBackend()
    prompt, flags = await draft_prompt(backend)
    assert window_lines(prompt) == 3 and flags["cold_window"] is True
    assert backend.grow[0] == 16
    assert prompt.split("<|fim_suffix|>")[0].endswith(request().text.split("\n")[request().line][:17])


async def test_after_a_draft_from_the_short_window_the_whole_window_is_grown_before_the_refinement() -> None:
    # A user who rests at the new place must find the draft's whole window cached at the first key: the
    # refinement (the whole window, seconds of the one CPU) comes after the draft's cache has grown.
    backend = GrowingBackend()
    _, flags = await draft_prompt(backend)
    assert flags["cold_window"] is True
    assert backend.order[:3] == ["stream", "prefill", "stream"]
    assert window_lines(backend.prefilled[0]) >= 7 and backend.grow[1] == 16
    def before_cursor(prompt: str) -> str:
        return prompt.split("<|fim_prefix|>")[1].split("<|fim_suffix|>")[0]

    assert before_cursor(backend.prefilled[0]).endswith(before_cursor(backend.prompts[0]))


async def test_a_draft_from_the_whole_window_grows_nothing_before_its_refinement() -> None:
    backend = GrowingBackend()
    backend.share = 0.95  # a warm-up prefilled the whole window
    await draft_prompt(backend)
    assert "prefill" not in backend.order


async def test_a_window_that_is_growing_or_cached_is_sent_whole() -> None:
    growing = GrowingBackend()
    growing.shifted = 200  # the short window is in the cache, further on than the whole window has it
    prompt, flags = await draft_prompt(growing)
    assert window_lines(prompt) >= 7 and "cold_window" not in flags and growing.grow[0] == 16
    warm = GrowingBackend()
    warm.share = 0.95  # a warm-up prefilled the whole window
    prompt, flags = await draft_prompt(warm)
    assert window_lines(prompt) >= 7 and "cold_window" not in flags


async def test_a_backend_that_cannot_grow_gets_the_whole_window() -> None:
    prompt, flags = await draft_prompt(scripted(["subtotal * 0.9\n"], ["never asked\n"]))
    assert window_lines(prompt) >= 7 and "cold_window" not in flags


async def test_the_short_start_is_off_by_default() -> None:
    backend = GrowingBackend()
    prompt, flags = await draft_prompt(backend, draft_cold_lines=Settings().draft_cold_lines)
    assert Settings().draft_cold_lines == 0
    assert window_lines(prompt) >= 7 and "cold_window" not in flags and backend.grow[0] is None
    backend = GrowingBackend()
    prompt, flags = await draft_prompt(backend, draft_grow_tokens=0)
    assert window_lines(prompt) >= 7 and backend.grow[0] is None
