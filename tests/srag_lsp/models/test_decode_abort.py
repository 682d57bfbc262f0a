"""Aborting a running llama.cpp decode from another thread, with the real model (``decode_abort``)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from srag_lsp.models import llama_kv
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.decode_abort import is_abort
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.llama_slots import preempt_for
from tests.support.streams import collect
from tests.support.waiting import wait_until

FIM = "<|fim_prefix|>def add(a, b):\n    return <|fim_suffix|>\n<|fim_middle|>"


def _long_batch(qwen: EmbeddedBackend) -> list[int]:
    return qwen.tokenize("".join(f"row_{i} = table.lookup({i}, scale={i * 7})\n" for i in range(30)))


def _in_first_decode(thread: threading.Thread, llm: Any) -> bool:
    """The thread runs ``llama_decode`` (its Python frame is ``LlamaContext.decode``) for the batch's first tokens
    (nothing of the batch is in the cache before and after the look at the frame)."""
    from llama_cpp._internals import LlamaContext

    before = llama_kv.cached_count(llm)
    frame = sys._current_frames().get(thread.ident or -1)
    inside = frame is not None and frame.f_code is LlamaContext.decode.__code__
    return before == 0 and inside and llama_kv.cached_count(llm) == 0


def _eval_in_thread(qwen: EmbeddedBackend, tokens: list[int], armed: bool,
                    stop: Callable[[threading.Event], None] | None = None,
                    steady: bool = False) -> tuple[dict[str, object], threading.Event]:
    """Evaluate one big batch on the slot (as a generation would, under its lock); once it runs, ``stop`` it
    (default: the job's own abort). ``steady``: the batch runs inside ``aborter.steady()``, then one more token is
    evaluated after the block (``outcome["after"]``: the error it raised, or None)."""
    slot = qwen._slot
    assert slot is not None
    outcome: dict[str, object] = {}
    cancel = threading.Event()
    started = threading.Event()

    def work() -> None:
        with slot.lock:
            slot.llm.reset()
            slot.held_prompt = ""  # the cache no longer holds what the backend last evaluated
            slot.aborter.begin(cancel)
            if armed:
                slot.aborter.arm(cancel)
            started.set()
            try:
                if steady:
                    with slot.aborter.steady():
                        slot.llm.eval(tokens)
                    outcome["n_tokens"] = llama_kv.cached_count(slot.llm)
                    try:
                        slot.llm.eval(tokens[:1])
                        outcome["after"] = None
                    except RuntimeError as exc:
                        outcome["after"] = exc
                    return
                slot.llm.eval(tokens)
                outcome["n_tokens"] = llama_kv.cached_count(slot.llm)
            except RuntimeError as exc:
                outcome["error"] = exc
                outcome["n_tokens"] = llama_kv.cached_count(slot.llm)
            finally:
                slot.aborter.end(cancel)

    thread = threading.Thread(target=work)
    thread.start()
    started.wait()
    wait_until(lambda: _in_first_decode(thread, slot.llm), 60, "the worker inside the batch's first decode",
               interval_s=0.001)
    if stop is None:
        slot.aborter.abort(cancel)
    else:
        stop(cancel)
    thread.join()
    return outcome, cancel


@pytest.mark.model
async def test_an_armed_decode_stops_when_its_job_is_cancelled(qwen: EmbeddedBackend) -> None:
    assert qwen._slot is not None and qwen._slot.aborter.enabled
    outcome, _ = _eval_in_thread(qwen, _long_batch(qwen), armed=True)
    assert is_abort(outcome["error"])  # type: ignore[arg-type]
    assert outcome["n_tokens"] == 0  # the aborted batch is not in the cache, and the ids say so
    # The context is whole: the next generation runs and writes text.
    stats = GenerationStats()
    assert (await collect(qwen, GenerationRequest(FIM, max_tokens=3), stats)).strip()
    assert stats.finish_reason == "length"


@pytest.mark.model
async def test_a_steady_decode_is_never_stopped_and_the_cancel_stops_the_next_one(qwen: EmbeddedBackend) -> None:
    """A decode that applies a KV shift must run whole (``DecodeAborter.steady``); the cancel that came meanwhile
    stops the next armed decode."""
    tokens = _long_batch(qwen)
    outcome, cancel = _eval_in_thread(qwen, tokens, armed=True, steady=True)
    assert cancel.is_set() and outcome["n_tokens"] == len(tokens)
    assert is_abort(outcome["after"])  # type: ignore[arg-type]


@pytest.mark.model
async def test_a_prompt_batch_is_never_aborted(qwen: EmbeddedBackend) -> None:
    """Not armed (prompt evaluation: the next prompt shares it): the cancel waits for the batch to finish."""
    tokens = _long_batch(qwen)
    outcome, cancel = _eval_in_thread(qwen, tokens, armed=False)
    assert "error" not in outcome and outcome["n_tokens"] == len(tokens)
    assert cancel.is_set()


@pytest.mark.model
async def test_a_generation_on_another_slot_stops_a_cancelled_prompt_batch(qwen: EmbeddedBackend) -> None:
    """Every slot's jobs share one model thread: a generation about to start on another slot stops a superseded
    job's prompt batch at once instead of waiting for it (that batch is not part of its prompt)."""
    other = qwen.with_slot("tests-other")
    await other.start()
    assert other._slot is not None and other._slot is not qwen._slot

    def superseded_then_preempted(cancel: threading.Event) -> None:
        cancel.set()  # the job's request was cancelled (the refinement a keystroke superseded)
        preempt_for(other._slot)  # type: ignore[arg-type]

    outcome, _ = _eval_in_thread(qwen, _long_batch(qwen), armed=False, stop=superseded_then_preempted)
    assert is_abort(outcome["error"])  # type: ignore[arg-type]
    assert outcome["n_tokens"] == 0
    stats = GenerationStats()
    assert (await collect(qwen, GenerationRequest(FIM, max_tokens=3), stats)).strip()


@pytest.mark.model
async def test_a_generation_on_the_same_slot_lets_a_cancelled_prompt_batch_finish(qwen: EmbeddedBackend) -> None:
    """On its own slot the superseded batch holds the prefix the next prompt shares: it runs to its end."""
    tokens = _long_batch(qwen)

    def superseded_then_preempted(cancel: threading.Event) -> None:
        cancel.set()
        preempt_for(qwen._slot)  # type: ignore[arg-type]

    outcome, _ = _eval_in_thread(qwen, tokens, armed=False, stop=superseded_then_preempted)
    assert "error" not in outcome and outcome["n_tokens"] == len(tokens)


@pytest.mark.model
async def test_a_late_abort_never_stops_the_next_job(qwen: EmbeddedBackend) -> None:
    """An abort for a job that has ended does not touch the job that runs after it."""
    slot = qwen._slot
    assert slot is not None
    old, new = threading.Event(), threading.Event()
    slot.aborter.begin(old)
    slot.aborter.arm(old)
    slot.aborter.end(old)
    slot.aborter.begin(new)
    slot.aborter.arm(new)
    slot.aborter.abort(old)  # too late: ``old`` no longer owns the switch
    try:
        with slot.lock:
            slot.llm.reset()
            slot.held_prompt = ""
            slot.llm.eval(qwen.tokenize("x = 1\n"))
    finally:
        slot.aborter.end(new)
    assert llama_kv.cached_count(slot.llm) > 0
