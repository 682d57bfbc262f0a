"""The service's coordination, with the real engine over a scripted fake backend (tests/support/scripted.py).

A fake model lets the test decide exactly what is on screen when a key arrives: continuing a generation the user
types through, waiting for the model at start-up, typing through a finished suggestion, the adaptive debounce.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from srag_lsp.completion.debounce import AdaptiveDebounce
from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.engine_source import FixedEngine
from srag_lsp.completion.prompting import Generator
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.service import CompletionService
from srag_lsp.settings import Settings
from srag_lsp.trace import Tracer
from tests.support.scripted import ScriptedBackend, ScriptedContext
from tests.support.waiting import wait_until_async

TEXT = "def total(prices):\n    result = \n"


def req(typed: str = "", version: int = 1) -> CompletionRequest:
    text = TEXT.replace("result = ", "result = " + typed)
    return CompletionRequest(uri="file:///t.py", path="t.py", text=text, line=1, col=13 + len(typed),
                             version=version, language="python")


def make(backend: ScriptedBackend, *, warmup: bool = False, debounce_ms: int = 0,
         trouble: Callable[[str], None] | None = None) -> tuple[CompletionEngine, CompletionService, list[Suggestion]]:
    engine = CompletionEngine(Generator(backend, "qwen"), Generator(backend, "qwen"), Settings(trace=False),
                              Tracer(None), ScriptedContext())
    seen: list[Suggestion] = []
    settings = Settings(trace=False, debounce_ms=debounce_ms, warmup=warmup)
    service = CompletionService(FixedEngine(engine), settings, publish=seen.append, trouble=trouble)
    return engine, service, seen


async def test_typing_what_the_running_generation_wrote_continues_it() -> None:
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, seen = make(backend)
    first = asyncio.create_task(service.suggest(req(), 50))
    backend.step(2)
    await wait_until_async(lambda: seen and seen[-1].text == "sum(prices", 10, "the first two pieces shown")
    assert await first == "sum(prices"
    service.edited("file:///t.py", "s", (1, 13))  # the user types the "s" the generation wrote
    # answered after its 50 ms wait with what the continued generation wrote so far
    assert await asyncio.wait_for(service.suggest(req("s", 2), 50), 10) == "um(prices"
    assert service.continued == 1 and len(backend.prompts) == 1  # no new generation
    backend.step(2)
    await wait_until_async(lambda: seen[-1].final, 10, "the final suggestion")
    assert seen[-1].text == "um(prices)" and seen[-1].version == 2 and seen[-1].col == 14


async def test_typing_something_else_supersedes_the_running_generation() -> None:
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, seen = make(backend)
    first = asyncio.create_task(service.suggest(req(), 50))
    backend.step(1)
    await wait_until_async(lambda: seen, 10, "the first piece shown")
    await first
    service.edited("file:///t.py", "m", (1, 13))
    second = asyncio.create_task(service.suggest(req("m", 2), 50))
    backend.step(10)
    await second
    assert service.continued == 0 and len(backend.prompts) == 2 and backend.cancelled >= 1


async def cancelled_after_the_first_piece() -> tuple[ScriptedBackend, CompletionService]:
    """A scripted generation that wrote "sum" of "sum(prices)" and whose request the editor then cancelled."""
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, seen = make(backend)
    first = asyncio.create_task(service.suggest(req(), 5000))
    backend.step(1)
    await wait_until_async(lambda: seen and seen[-1].text == "sum", 10, "the first piece shown")
    first.cancel()  # $/cancelRequest, before the edit reaches the daemon
    with contextlib.suppress(asyncio.CancelledError):
        await first
    return backend, service


async def test_the_editors_cancel_before_the_next_key_leaves_the_generation_for_it_to_type_through() -> None:
    """Neovim cancels the last request before it sends the edit and the next request: the scripted generation that
    the user types through goes on (no second prompt)."""
    backend, service = await cancelled_after_the_first_piece()
    service.edited("file:///t.py", "s", (1, 13))
    second = asyncio.create_task(service.suggest(req("s", 2), 5000))
    backend.step(3)
    assert await asyncio.wait_for(second, 10) == "um(prices)"
    assert service.continued == 1 and len(backend.prompts) == 1


async def test_a_cancelled_request_that_no_request_takes_over_stops_its_generation() -> None:
    """Scripted fake backend: the cancel stops the generation once the grace passes with no request."""
    backend, service = await cancelled_after_the_first_piece()
    assert service.inflight  # for a moment: the next request may take it over
    await wait_until_async(lambda: backend.cancelled == 1, 10, "the generation stopped after the grace")
    assert not service.inflight and len(backend.prompts) == 1


async def test_typing_through_a_cut_off_suggestion_writes_on_from_there() -> None:
    """A scripted generation cut off by a key after "sum(": the user types through it; a new generation at the
    cursor writes on, and the screen keeps the longer text until the new one writes past it."""
    backend = ScriptedBackend(lambda p: ["s", "um", "(pri", "ces)", "\n"] if "result = s" not in p
                              else ["um", "(pri", "ces)", "\n"], stepping=True)
    _, service, seen = make(backend)
    first = asyncio.create_task(service.suggest(req(), 50))
    backend.step(3)
    await wait_until_async(lambda: seen and seen[-1].text == "sum(pri", 10, "a partial draft shown")
    assert await first == "sum(pri"
    service.supersede("file:///t.py")  # a key cut it off (here: the cancel that nothing took over)
    await wait_until_async(lambda: backend.cancelled == 1, 10, "the cut generation stopped")
    shown_before = len(seen)
    assert await service.suggest(req("s", 2), 50) == "um(pri"  # typed through: answered at once
    assert service.typed_through == 1 and service.finishing == 1
    backend.step(2)  # the new generation wrote "um(pri": not past the screen, nothing new shown
    await wait_until_async(lambda: len(backend.prompts) == 2, 10, "the generation that writes on")
    await asyncio.sleep(0.05)
    assert [s.text for s in seen[shown_before:]] == ["um(pri"]
    backend.step(3)
    await wait_until_async(lambda: seen[-1].text == "um(prices)", 10, "the written-on suggestion")
    assert seen[-1].version == 2 and seen[-1].col == 14


async def test_a_client_without_streaming_typing_through_a_cut_off_suggestion_starts_no_generation() -> None:
    """Scripted fake backend: a client that sees only its answers would never see the text written on."""
    backend = ScriptedBackend(lambda p: ["s", "um", "(pri", "ces)", "\n"], stepping=True)
    _, service, seen = make(backend)
    first = asyncio.create_task(service.suggest(req(), 50, streaming=False))
    backend.step(3)
    await wait_until_async(lambda: seen and seen[-1].text == "sum(pri", 10, "a partial draft")
    await first
    service.supersede("file:///t.py")
    await wait_until_async(lambda: backend.cancelled == 1, 10, "the cut generation stopped")
    assert await service.suggest(req("s", 2), 50, streaming=False) == "um(pri"
    await asyncio.sleep(0.05)
    assert service.finishing == 0 and len(backend.prompts) == 1


async def test_typing_through_a_whole_suggestion_starts_no_generation() -> None:
    backend = ScriptedBackend(lambda p: ["sum(prices)", "\n"])
    _, service, _ = make(backend)
    await service.run_to_end(req())
    assert await service.suggest(req("s", 2), 50) == "um(prices)"
    await asyncio.sleep(0.05)
    assert service.finishing == 0 and len(backend.prompts) == 1


class Loading:
    """An engine source whose model is still loading (the daemon's runtime right after start)."""

    def __init__(self) -> None:
        self.engine: CompletionEngine | None = None
        self.ready = asyncio.Event()
        self.waited_on = asyncio.Event()  # someone waits for the model

    async def models_ready(self) -> None:
        self.waited_on.set()
        await self.ready.wait()


async def test_the_first_request_after_start_waits_for_the_model_and_is_answered() -> None:
    backend = ScriptedBackend(lambda p: ["sum(prices)", "\n"])
    engine = CompletionEngine(Generator(backend, "qwen"), Generator(backend, "qwen"), Settings(trace=False),
                              Tracer(None), ScriptedContext())
    seen: list[Suggestion] = []
    loading = Loading()
    service = CompletionService(loading, Settings(trace=False, debounce_ms=0), publish=seen.append)

    async def load() -> None:
        await asyncio.wait_for(loading.waited_on.wait(), 10)  # the model loads until the request waits for it
        loading.engine = engine
        loading.ready.set()

    loaded = asyncio.create_task(load())
    assert await service.suggest(req(), 50) == "sum(prices)"
    await loaded
    assert seen and seen[-1].final  # a streaming client got its notifications too


async def test_typing_through_a_finished_suggestion_needs_no_model_call() -> None:
    backend = ScriptedBackend(lambda p: ["sum(prices)", "\n"])
    _, service, seen = make(backend)
    outcome = await service.run_to_end(req())
    assert outcome is not None and outcome.suggestion.text == "sum(prices)"
    assert await service.suggest(req("su", 2), 50) == "m(prices)"
    assert len(backend.prompts) == 1 and service.typed_through == 1
    assert seen[-1].text == "m(prices)" and seen[-1].version == 2


async def test_a_warm_up_runs_where_the_cursor_landed_when_the_user_idles() -> None:
    backend = ScriptedBackend(lambda p: ["x", "\n"])
    _, service, _ = make(backend, warmup=True)
    service.cursor_landed(req())
    await wait_until_async(lambda: backend.prefilled, 10, "the warm-up")  # the user idles meanwhile
    assert "<|fim_prefix|>" in backend.prefilled[0]
    service.cursor_landed(req("s", 2))
    await service.suggest(req("s", 2), 50)  # a request cancels a pending warm-up
    assert len(backend.prefilled) == 1


def test_the_debounce_waits_only_while_keys_come_faster_than_answers() -> None:
    now = [0.0]
    debounce = AdaptiveDebounce(lambda: 100, clock=lambda: now[0])
    assert debounce.delay_s("u") == 0.0  # the first key after a pause starts at once
    now[0] += 0.12
    assert debounce.delay_s("u") == 0.0  # no answer measured yet
    debounce.observe_response(200.0)
    now[0] += 0.12
    assert debounce.delay_s("u") == 0.0  # answers in 200 ms, keys every 120: it may still land, no wait
    debounce.observe_response(2000.0)
    debounce.observe_response(2000.0)
    now[0] += 0.12
    assert 0.05 < debounce.delay_s("u") <= 0.1  # answers take many keys: wait a little for the next one
    debounce.observe_response(50.0)
    debounce.observe_response(50.0)
    debounce.observe_response(50.0)
    debounce.observe_response(50.0)
    debounce.observe_response(50.0)
    now[0] += 0.12
    assert debounce.delay_s("u") == 0.0  # answers come faster than keys: never wait
    now[0] += 2.0
    assert debounce.delay_s("u") == 0.0
    assert AdaptiveDebounce(lambda: 0).delay_s("u") == 0.0


async def test_the_suggestion_after_an_accept_is_computed_ahead() -> None:
    backend = ScriptedBackend(lambda p: [" + 1", "\n"])
    _, service, seen = make(backend, warmup=True)
    first = req()
    assert await service.suggest(first, 1000)
    await wait_until_async(lambda: service.warmer.ahead, 10, "the run ahead, as if the user accepted")
    shown = seen[-1].text
    after = CompletionRequest(uri=first.uri, path=first.path, text=TEXT.replace("result = ", "result = " + shown),
                              line=1, col=13 + len(shown), version=5, language="python")
    assert await service.suggest(after, 1000)
    assert len(backend.prompts) == 2 and service.ahead_hits == 1


async def test_only_answers_from_a_warm_cache_teach_the_debounce() -> None:
    """A cold request (a jump, the whole prompt evaluated) says nothing about how fast keys are answered."""
    backend = ScriptedBackend(lambda p: ["total", "\n"])
    _, service, _ = make(backend)
    await service.run_to_end(req())
    assert service.debounce.response_ms is None
    backend.evaluated_share = 0.01  # typing on: the KV cache held almost all of the prompt
    await service.run_to_end(req("t", 2))
    assert service.debounce.response_ms is not None


async def test_a_failing_model_is_said_once_per_kind_until_it_works_again() -> None:
    """A fake backend whose script raises (fault injection): the user hears of each kind of failure once."""
    failure = ["refused"]

    def script(prompt: str) -> list[str]:
        if failure[0]:
            raise ConnectionError(f"{failure[0]}: the model server at 127.0.0.1:11434")
        return ["total", "\n"]

    said: list[str] = []
    backend = ScriptedBackend(script)
    _, service, _ = make(backend, trouble=said.append)
    for version in range(1, 5):  # four keystrokes, one failure kind
        await service.run_to_end(req("t" * version, version))
    assert len(said) == 1 and "refused" in said[0]
    failure[0] = "stalled"
    await service.run_to_end(req("tt", 6))
    assert len(said) == 2 and "stalled" in said[1]  # another kind is news
    failure[0] = ""
    await service.run_to_end(req("ttt", 7))  # it works again
    failure[0] = "refused"
    await service.run_to_end(req("tttt", 8))
    assert len(said) == 3  # a failure after a success is news again


async def test_a_plain_client_typing_gets_the_text_so_far_before_the_next_key() -> None:
    """Scripted fake backend that never reaches the end of the line by itself: a client without streaming that
    types every 200 ms is answered within the interval with what the model wrote so far, while a streaming client
    (which sees every update anyway) is still answered with the first line."""
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, seen = make(backend)
    now = [0.0]
    service.debounce = AdaptiveDebounce(lambda: 0, clock=lambda: now[0])
    arrival = asyncio.create_task(service.suggest(req(), 60_000, streaming=False))
    backend.step(1)
    await wait_until_async(lambda: seen and seen[-1].text == "sum", 10, "the first piece")
    assert not arrival.done()  # no typing interval yet (the user just arrived): it waits for a first line
    now[0] += 0.2  # a key 200 ms later, not what the model wrote: a new generation
    typed = asyncio.create_task(service.suggest(req("t", 2), 60_000, streaming=False))
    assert await asyncio.wait_for(arrival, 10) == "sum"  # superseded: it answers with what it had
    await wait_until_async(lambda: len(backend.prompts) == 2, 10, "the second generation")
    backend.step(1)
    assert await asyncio.wait_for(typed, 10) == "sum"  # within the interval, no first line yet
    assert service.debounce.interval_ms["file:///t.py"] == 200.0

    now[0] += 0.2
    streaming = asyncio.create_task(service.suggest(req("to", 3), 60_000, streaming=True))
    await wait_until_async(lambda: len(backend.prompts) == 3, 10, "the third generation")
    backend.step(1)
    await wait_until_async(lambda: seen and seen[-1].version == 3 and seen[-1].text == "sum", 10, "its first piece")
    assert not streaming.done()
    backend.step(3)
    assert await asyncio.wait_for(streaming, 10) == "sum(prices)"


async def test_a_cursor_resting_elsewhere_stops_the_old_place_and_warms_the_new_one() -> None:
    """Scripted fake backend: a generation still runs for the place the user left; ``srag/cursor`` from another
    place of the document supersedes it and warms the prompts where the cursor rests."""
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, _ = make(backend, warmup=True)
    running = asyncio.create_task(service.suggest(req(), 50))
    backend.step(1)
    assert await running == "sum"
    assert service.inflight  # still generating for the old place
    elsewhere = CompletionRequest(uri="file:///t.py", path="t.py", text=TEXT, line=0, col=4, version=1,
                                  language="python")
    service.cursor_rested(elsewhere)
    assert not service.inflight
    await wait_until_async(lambda: backend.prefilled, 10, "a warm-up where the cursor rests")
    assert backend.cancelled == 1


async def test_a_cursor_resting_where_a_request_runs_is_warmed_when_it_ends() -> None:
    """Scripted fake backend: ``srag/cursor`` arrives while the request at that very place still generates; the
    request runs on, and when it ends the place is warmed instead of computing the suggestion after an accept."""
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, _ = make(backend, warmup=True)
    here = req()
    running = asyncio.create_task(service.suggest(here, 50))
    backend.step(1)
    assert await running == "sum"
    service.cursor_rested(here)
    assert service.inflight  # the same place: not superseded
    backend.step(3)
    await wait_until_async(lambda: service.warmer.runs == 1, 10, "a warm-up where the cursor rests")
    assert backend.prefilled and not service.warmer.ahead


async def test_a_request_answered_from_the_cache_leaves_a_warm_up_running() -> None:
    """Scripted fake backend: an editor asks again where it was just answered (code-server does when the cursor
    lands); the answer comes from the cache, and the warm-up where the cursor rests is not cancelled by it."""
    backend = ScriptedBackend(lambda p: [])
    _, service, _ = make(backend, warmup=True)
    here = req()
    assert await service.suggest(here, 1000) == ""
    service.cursor_rested(here)
    assert await service.suggest(here, 1000) == ""
    await wait_until_async(lambda: service.warmer.runs == 1, 10, "the warm-up where the cursor rests")


async def test_a_request_in_another_document_stops_the_generation_the_user_left() -> None:
    """Scripted fake backend: the refinement for the line just typed in one file still runs when the user asks in
    another; the new place must not wait for it (one cursor: the old suggestion can no longer be seen)."""
    backend = ScriptedBackend(lambda p: ["sum", "(prices", ")", "\n"], stepping=True)
    _, service, _ = make(backend)
    running = asyncio.create_task(service.suggest(req(), 50))
    backend.step(1)
    assert await running == "sum"
    assert list(service.inflight) == ["file:///t.py"]
    other = CompletionRequest(uri="file:///u.py", path="u.py", text=TEXT, line=1, col=13, version=1,
                              language="python")
    elsewhere = asyncio.create_task(service.suggest(other, 50))
    await wait_until_async(lambda: "file:///t.py" not in service.inflight, 10, "the old document's flight stopped")
    backend.step(10)
    assert await asyncio.wait_for(elsewhere, 10) == "sum(prices)"
    assert backend.cancelled >= 1 and len(backend.prompts) == 2
