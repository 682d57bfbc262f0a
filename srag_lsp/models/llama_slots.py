"""Loaded llama.cpp models ("slots") for the whole process, and filling a slot's KV cache with a prompt.

One long-lived ``Llama`` per (model file, slot, n_ctx, threads), so a prompt that extends the previous one re-uses
its KV cache: only the new tokens are evaluated. Each slot is its own context and KV sequence, used by one job at a
time (its lock, its one worker thread).

stdout carries the LSP protocol, so loading never touches it: with ``verbose=False`` llama-cpp-python points fds 1
and 2 at /dev/null for the whole process while it loads (a protocol frame written by the event loop meanwhile would
be lost), so we load with ``verbose=True`` instead and route llama.cpp's log lines into ``logging`` (DEBUG) through
our own log callback.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.models import llama_kv
from srag_lsp.models.base import GenerationStats
from srag_lsp.models.decode_abort import DecodeAborter

log = logging.getLogger(__name__)
llama_log = logging.getLogger("srag_lsp.models.llama_cpp")

N_BATCH = 256  # llama.cpp's logical batch
# What llama.cpp logs when a decode is aborted (GGML_STATUS_ABORTED is 1; llama_decode returns 2).
ABORT_LINES = ("compute status: 1", "failed with error 1", "failed to decode, ret = 2", "removing memory module")

_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, int, int], Slot] = {}
_log_callback: Any = None  # keeps the ctypes callback alive
# Every slot's jobs run on this one thread. llama.cpp computes with OpenMP, and each thread that starts a
# computation becomes the master of its own OpenMP team: with one team per slot (draft and refine), every decode
# after the second team first ran took twice as long here (a 3-token key prompt 55 -> 120 ms on 2 cores), and the
# two stages share the cores anyway (the engine runs them one after the other).
MODEL_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srag-llama")


def cpu_count() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 2


class Slot:
    """One loaded model instance (one KV sequence) and the lock that serialises its use."""

    def __init__(self, llm: Any, load_ms: float) -> None:
        self.llm = llm
        self.load_ms = load_ms
        self.lock = threading.Lock()
        self.executor = MODEL_THREAD
        # The prompt text whose tokens the KV cache holds (a cheap stand-in for tokenizing a prompt to compare).
        self.held_prompt = ""
        self.warm_cancel: threading.Event | None = None  # the cancel flag of a warm-up queued or running
        # Stops a running decode when its job is cancelled.
        self.aborter = DecodeAborter(llama_kv.context_handle(llm))


def preempt_for(slot: Slot) -> None:
    """A generation is about to run on ``slot``: stop what would make it wait for the one model thread.

    Every warm-up (on any slot) stops at its next batch. A job on another slot whose request was already cancelled
    (a refinement the last keystroke superseded) stops inside its running prompt batch too: that batch's tokens are
    lost, but they belong to another slot's prompt, and the new request would otherwise wait up to a batch (about
    200 ms here) for the model thread. A cancelled job on ``slot`` itself finishes its batch, which holds the
    prefix the new prompt shares (``decode_abort``).
    """
    with _registry_lock:
        slots = list(_registry.values())
    for other in slots:
        if other.warm_cancel is not None:
            other.aborter.abort(other.warm_cancel)
        if other is not slot:
            other.aborter.abort_if_cancelled()


def common_token_prefix(a: Sequence[int], b: list[int]) -> int:
    """How many leading token ids ``a`` and ``b`` share."""
    n = min(len(a), len(b))
    i = 0
    while i < n and int(a[i]) == b[i]:
        i += 1
    return i


def batch_sizes(pending: int, first: int, most: int, whole: int = 0) -> list[int]:
    """The sizes of the batches that evaluate ``pending`` prompt tokens: one batch when they are at most ``whole``,
    else ``first``, then each twice the last, up to ``most`` (``most`` <= ``first``: every batch is ``first``).

    A batch is the unit of work a preemption loses (a warm-up's, or a superseded job's on another slot, is aborted
    inside it) and the time a cancel waits for; a larger batch evaluates each token for less, the more so for
    BF16 weights, which are read once per batch (measured here, 800 prompt tokens: 3.8 s in batches of 32, 2.4 s
    in batches of 128). Each batch that ran to its end is a wait in which no request came, so the next may be
    longer: a user at rest gets the large batches' rate, a typing one loses at most the last small batch.
    """
    if 0 < pending <= whole:
        return [pending]
    sizes: list[int] = []
    size = max(1, first)
    while pending > 0:
        sizes.append(min(size, pending))
        pending -= sizes[-1]
        size = min(size * 2, most) if most > size else size
    return sizes


def prefill_locked(slot: Slot, tokens: list[int], prompt: str, cancel: threading.Event, batch: int,
                   stats: GenerationStats | None = None, *, through_last: bool = False, most: int = 0,
                   whole: int = 0) -> int:
    """Make the slot's KV cache hold all but the last of ``tokens``; return how many were already there.

    The caller holds the slot's lock. The common prefix with what the cache holds is kept; the rest is evaluated
    in batches of ``batch`` tokens growing to ``most``, or at once when at most ``whole`` (``batch_sizes``), with a
    look at ``cancel`` between batches (a cancelled prefill keeps what it evaluated: the next prompt that shares it
    starts from there). At least the last token is always evaluated again, so its logits are fresh.
    ``through_last``: evaluate the last token too, in the same batch as the others (a generation about to sample
    from its logits; one decode instead of two, ~30 ms less to the first token here); otherwise it is left for the
    generation.
    """
    llm = slot.llm
    prefix = min(common_token_prefix(llama_kv.held_tokens(llm), tokens), len(tokens) - 1)
    prefix = llama_kv.keep_prefix(llm, prefix)
    if stats is not None:
        stats.prompt_evaluated = len(tokens) - prefix  # known before the work, for whoever watches it
    slot.held_prompt = prompt[: common_prefix_length(slot.held_prompt, prompt)] if prefix else ""
    pending = tokens[prefix:] if through_last else tokens[prefix:-1]
    start = 0
    for size in batch_sizes(len(pending), batch, most, whole):
        if cancel.is_set():
            return prefix
        llm.eval(pending[start : start + size])
        start += size
    slot.held_prompt = prompt
    return prefix


def _close_all() -> None:
    """At exit, free every loaded model while llama-cpp-python is still whole.

    Left to the interpreter's teardown, each ``Llama.__del__`` finds the library's functions already gone and prints
    a traceback. This runs after the model thread has been joined (``concurrent.futures`` joins its workers before
    ``atexit`` handlers run), so no job uses a model it frees.
    """
    with _registry_lock:
        slots = list(_registry.values())
        _registry.clear()
    for slot in slots:
        with contextlib.suppress(Exception):
            slot.llm.close()


atexit.register(_close_all)


def install_log_callback() -> None:
    """Route llama.cpp's own log lines into ``logging`` instead of stderr (called once, before the first load)."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    # ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 (continues the previous line). llama.cpp's INFO
    # is a page of model metadata per load: DEBUG here.
    levels = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.DEBUG, 3: logging.WARNING, 4: logging.ERROR}
    last = [logging.DEBUG]

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
        py_level = last[0] if level == 5 else levels.get(level, logging.DEBUG)
        last[0] = py_level
        line = text.decode("utf-8", errors="replace").rstrip()
        if any(marker in line for marker in ABORT_LINES):
            py_level = logging.DEBUG  # a decode we aborted on purpose (``decode_abort``), not a failure
        if line and llama_log.isEnabledFor(py_level):
            llama_log.log(py_level, "%s", line)

    _log_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


def load(path: Path, slot: str, n_ctx: int, n_threads: int) -> Slot:
    """The slot for (``path``, ``slot``, ``n_ctx``, ``n_threads``), loading the model the first time (blocking)."""
    key = (str(path), slot, n_ctx, n_threads)
    with _registry_lock:
        found = _registry.get(key)
        if found is not None:
            return found
        import llama_cpp

        install_log_callback()
        started = time.perf_counter()
        # verbose=True keeps llama-cpp-python from redirecting fds 1 and 2 (see the module docstring); its own
        # Python-level chatter (model metadata, system info) goes to a buffer and then to the log.
        chatter = io.StringIO()
        with contextlib.redirect_stderr(chatter):
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=N_BATCH,
                n_threads=n_threads,
                n_threads_batch=n_threads,
                logits_all=False,
                verbose=True,
            )
        llama_kv.quiet(llm)
        llama_kv.allow_scratch_sequence(llm)  # for prompts that grow in front of what is cached (prompt_growth)
        log.debug("llama-cpp-python while loading %s:\n%s", path.name, chatter.getvalue()[:4000])
        load_ms = (time.perf_counter() - started) * 1000
        log.info("loaded %s (slot %s, n_ctx %d, %d threads) in %.0f ms", path.name, slot, n_ctx, n_threads, load_ms)
        _registry[key] = Slot(llm, load_ms)
        return _registry[key]
