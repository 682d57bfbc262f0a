"""Aborting a running llama.cpp decode from another thread, with the real model (``decode_abort``)."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from srag_lsp.models import llama_kv
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.decode_abort import is_abort
from srag_lsp.models.embedded import EmbeddedBackend
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


def _eval_in_thread(qwen: EmbeddedBackend, tokens: list[int], armed: bool) -> tuple[dict[str, object], threading.Event]:
    """Evaluate one big batch on the slot (as a generation would, under its lock); abort it once it runs."""
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
    slot.aborter.abort(cancel)
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
async def test_a_prompt_batch_is_never_aborted(qwen: EmbeddedBackend) -> None:
    """Not armed (prompt evaluation: the next prompt shares it): the cancel waits for the batch to finish."""
    tokens = _long_batch(qwen)
    outcome, cancel = _eval_in_thread(qwen, tokens, armed=False)
    assert "error" not in outcome and outcome["n_tokens"] == len(tokens)
    assert cancel.is_set()


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
