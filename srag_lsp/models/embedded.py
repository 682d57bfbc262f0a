"""The embedded backend: llama.cpp in process (llama-cpp-python), generation off the event loop.

One long-lived ``Llama`` per (model file, slot, n_ctx, threads) for the whole process, so a prompt that extends the
previous one re-uses its KV cache: only the new tokens are evaluated. The draft and refine stages use
separate slots (each slot is its own context and KV sequence), so they do not evict each other's prefix.
Generation runs in a worker thread that hands text to the event loop (``call_soon_threadsafe`` into an
``asyncio.Queue``); a cancel flag is checked between prompt-evaluation batches and between generated tokens,
and a per-slot lock lets one generation at a time use the slot's single sequence.

stdout carries the LSP protocol, so loading never touches it: with ``verbose=False`` llama-cpp-python
points fds 1 and 2 at /dev/null for the whole process while it loads (a protocol frame written by the event
loop meanwhile would be lost), so we load with ``verbose=True`` instead and route llama.cpp's log lines into
``logging`` (DEBUG) through our own log callback.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import ctypes
import io
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.models.base import BackendError, BackendInfo, GenerationRequest, GenerationStats
from srag_lsp.models.catalog import ModelUnavailable, ensure_model, model_info
from srag_lsp.models.decode_abort import DecodeAborter, is_abort

log = logging.getLogger(__name__)
llama_log = logging.getLogger("srag_lsp.models.llama_cpp")

EVAL_BATCH = 32  # prompt tokens evaluated between two looks at the cancel flag (~280 ms of qwen here)
WARM_BATCH = 16  # a warm-up yields sooner: any request preempts it at its next batch
N_BATCH = 256  # llama.cpp's logical batch
# What llama.cpp logs when a decode is aborted (GGML_STATUS_ABORTED is 1; llama_decode returns 2).
ABORT_LINES = ("compute status: 1", "failed with error 1", "failed to decode, ret = 2", "removing memory module")

_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, int, int], _Slot] = {}
_log_callback: Any = None  # keeps the ctypes callback alive


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 2


class _Slot:
    """One loaded model instance (one KV sequence) and the lock that serialises its use."""

    def __init__(self, llm: Any, load_ms: float) -> None:
        self.llm = llm
        self.load_ms = load_ms
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srag-llama")
        # The prompt text whose tokens the KV cache holds (a cheap stand-in for tokenizing a prompt to compare).
        self.held_prompt = ""
        self.warm_cancel: threading.Event | None = None  # the cancel flag of a warm-up queued or running
        self.aborter = DecodeAborter(llm._ctx.ctx)  # stops a running decode when its job is cancelled


def _preempt_warmups() -> None:
    """A generation is about to run: every warm-up (on any slot; they share the cores) stops at its next batch."""
    with _registry_lock:
        slots = list(_registry.values())
    for slot in slots:
        if slot.warm_cancel is not None:
            slot.aborter.abort(slot.warm_cancel)


def _prefill_locked(slot: _Slot, tokens: list[int], prompt: str, cancel: threading.Event, batch: int,
                    stats: GenerationStats | None = None, *, through_last: bool = False) -> int:
    """Make the slot's KV cache hold all but the last of ``tokens``; return how many were already there.

    The common prefix with what the cache holds is kept; the rest is evaluated ``batch`` tokens at a time, with a
    look at ``cancel`` between batches (a cancelled prefill keeps what it evaluated: the next prompt that shares
    it starts from there). At least the last token is always evaluated again, so its logits are fresh.
    ``through_last``: evaluate the last token too, in the same batch as the others (a generation about to sample
    from its logits; one decode instead of two, ~30 ms less to the first token here); otherwise it is left for
    the generation.
    """
    llm = slot.llm
    prefix = min(_common_prefix(llm.input_ids[: llm.n_tokens], tokens), len(tokens) - 1)
    if prefix < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, prefix, -1):
        llm.reset()
        prefix = 0
    llm.n_tokens = prefix
    if stats is not None:
        stats.prompt_evaluated = len(tokens) - prefix  # known before the work, for whoever watches it
    slot.held_prompt = prompt[: common_prefix_length(slot.held_prompt, prompt)] if prefix else ""
    pending = tokens[prefix:] if through_last else tokens[prefix:-1]
    for i in range(0, len(pending), batch):
        if cancel.is_set():
            return prefix
        llm.eval(pending[i : i + batch])
    slot.held_prompt = prompt
    return prefix


def _install_log_callback() -> None:
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


def _load(path: Path, slot: str, n_ctx: int, n_threads: int) -> _Slot:
    key = (str(path), slot, n_ctx, n_threads)
    with _registry_lock:
        found = _registry.get(key)
        if found is not None:
            return found
        import llama_cpp

        _install_log_callback()
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
        llm.verbose = False  # no per-request prints from here on
        log.debug("llama-cpp-python while loading %s:\n%s", path.name, chatter.getvalue()[:4000])
        load_ms = (time.perf_counter() - started) * 1000
        log.info("loaded %s (slot %s, n_ctx %d, %d threads) in %.0f ms", path.name, slot, n_ctx, n_threads, load_ms)
        _registry[key] = _Slot(llm, load_ms)
        return _registry[key]


def _common_prefix(a: Any, b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and int(a[i]) == b[i]:
        i += 1
    return i


def _held_back(text: str, stops: list[str]) -> int:
    """How many trailing characters might be the start of a stop sequence (not emitted yet)."""
    hold = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), 0, -1):
            if text.endswith(stop[:k]):
                hold = max(hold, k)
                break
    return hold


class _TextAssembler:
    """Generated token bytes in, safe text out: whole UTF-8 characters only, stop sequences cut and held back."""

    def __init__(self, stops: list[str]) -> None:
        self.stops = [s for s in stops if s]
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self.emitted = 0
        self.stopped = False

    def feed(self, data: bytes) -> str:
        """The text that can be shown now ("" while a character or a possible stop sequence is incomplete)."""
        self.text += self.decoder.decode(data)
        cut = min(
            (i for i in (self.text.find(s, max(0, self.emitted - len(s))) for s in self.stops) if i != -1), default=-1
        )
        if cut != -1:
            self.text = self.text[:cut]
            self.stopped = True
            return self.flush()
        safe = len(self.text) - _held_back(self.text, self.stops)
        if safe <= self.emitted:
            return ""
        piece = self.text[self.emitted : safe]
        self.emitted = safe
        return piece

    def flush(self) -> str:
        """What was held back for a stop sequence that never came (an unfinished character is dropped)."""
        piece = self.text[self.emitted :]
        self.emitted = len(self.text)
        return piece


class EmbeddedBackend:
    """llama.cpp in process. ``slot`` names an independent KV sequence of the same model file."""

    def __init__(
        self, model: str, *, model_dir: Path, n_ctx: int = 4096, slot: str = "main", n_threads: int | None = None
    ) -> None:
        """``n_threads``: llama.cpp threads (None = every core). With every core busy elsewhere too (the indexer,
        the editor), llama.cpp's threads wait on each other: on 2 cores with one core taken, 2 threads generated
        0.5 to 3 tokens/s where 1 thread made 5."""
        self.model = model
        self.model_dir = model_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or _cpu_count()
        self.slot_name = slot
        name, fim = model_info(model)
        self.info = BackendInfo(backend="embedded", model=name, fim=fim)
        self.warnings: list[str] = []
        self.load_ms = 0.0
        self._slot: _Slot | None = None
        self._load_reported = False

    async def start(self) -> None:
        """Assemble (first use) and load the model in a thread; BackendError with a user-facing message."""
        if self._slot is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(None, ensure_model, self.model, self.model_dir)
        except ModelUnavailable as exc:
            raise BackendError(str(exc)) from None
        except OSError as exc:
            raise BackendError(f"cannot prepare the embedded model {self.model} in {self.model_dir}: {exc}") from None
        try:
            self._slot = await loop.run_in_executor(None, _load, path, self.slot_name, self.n_ctx, self.n_threads)
        except ImportError:
            raise BackendError(
                "llama-cpp-python is not installed: run scripts/setup.sh (it builds it with safe CPU flags)"
            ) from None
        except Exception as exc:
            raise BackendError(f"cannot load the embedded model {path}: {exc}") from exc
        self.load_ms = self._slot.load_ms
        self.info.detail = str(path)
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: the embedded model {self.info.model} has no fill-in-the-middle support; "
                "completions see only the text before the cursor"
            )

    def with_slot(self, slot: str) -> EmbeddedBackend:
        """The same model in another KV sequence (for a second generation stage)."""
        return EmbeddedBackend(
            self.model, model_dir=self.model_dir, n_ctx=self.n_ctx, slot=slot, n_threads=self.n_threads
        )

    def cached_tokens(self, prompt: str) -> tuple[int, int]:
        """(tokens of ``prompt`` already in this slot's KV cache, prompt tokens): what a prefill would skip."""
        if self._slot is None:
            return 0, 0
        llm = self._slot.llm
        tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        held = llm.input_ids[: llm.n_tokens]
        n = 0
        for a, b in zip(held, tokens, strict=False):
            if int(a) != b:
                break
            n += 1
        return n, len(tokens)

    def cached_share(self, prompt: str) -> float:
        """Share of ``prompt`` (by characters) that this slot's KV cache already holds; microseconds, no tokenizing.

        ``cached_tokens`` is exact but tokenizes the whole prompt (about 4 ms for 900 tokens), too slow to decide
        on the request path.
        """
        if self._slot is None or not prompt:
            return 0.0
        return common_prefix_length(self._slot.held_prompt, prompt) / len(prompt)

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` as a prompt (special tokens parsed); for budgeting prompts."""
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        return list(self._slot.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    async def prefill(self, prompt: str, *, num_ctx: int = 0, max_tokens: int = 0) -> int:
        """Evaluate ``prompt`` into this slot's KV cache without generating: a warm-up off the keystroke path.

        The lowest priority: any generation (on any slot) stops it at its next small batch, and a newer warm-up
        replaces it. What it evaluated stays cached. Returns the prompt tokens it evaluated.
        """
        if self._slot is None or not prompt:
            return 0
        slot = self._slot
        if slot.warm_cancel is not None:
            slot.aborter.abort(slot.warm_cancel)
        cancel = threading.Event()
        slot.warm_cancel = cancel
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(slot.executor, self._prefill_job, slot, prompt, num_ctx, max_tokens,
                                              cancel)
        except asyncio.CancelledError:
            slot.aborter.abort(cancel)
            raise

    def _prefill_job(self, slot: _Slot, prompt: str, num_ctx: int, max_tokens: int, cancel: threading.Event) -> int:
        try:
            with slot.lock:
                if cancel.is_set():
                    return 0
                tokens = self._prompt_tokens(slot, prompt, num_ctx, max_tokens)
                if len(tokens) < 2:
                    return 0
                slot.aborter.begin(cancel)
                try:
                    reused = _prefill_locked(slot, tokens, prompt, cancel, WARM_BATCH)
                finally:
                    slot.aborter.end(cancel)
                return max(0, slot.llm.n_tokens - reused)
        except Exception as exc:  # a warm-up never takes the daemon down
            if not (cancel.is_set() and is_abort(exc)):
                log.warning("embedded warm-up failed: %s", exc)
            return 0
        finally:
            if slot.warm_cancel is cancel:
                slot.warm_cancel = None

    async def score(self, prompt: str, continuations: list[str]) -> list[float]:
        """The mean log-probability per token of each continuation after ``prompt`` (higher: the model prefers it).

        The prompt's KV cache is re-used (it is usually the one a refinement just evaluated), and each continuation
        costs one batch of its own tokens. An empty continuation scores -inf.
        """
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        _preempt_warmups()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._slot.executor, self._score_job, self._slot, prompt, continuations)

    def _score_job(self, slot: _Slot, prompt: str, continuations: list[str]) -> list[float]:
        import numpy as np

        with slot.lock:
            llm = slot.llm
            tokens = self._prompt_tokens(slot, prompt, 0, 64)
            _prefill_locked(slot, tokens, prompt, threading.Event(), EVAL_BATCH)
            base = llm.n_tokens  # all but the prompt's last token are in the KV cache
            scores: list[float] = []
            try:
                for text in continuations:
                    ctoks = list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))[:64]
                    if not text or not ctoks:
                        scores.append(float("-inf"))
                        continue
                    batch = [tokens[-1], *ctoks[:-1]]
                    llm._ctx.kv_cache_seq_rm(-1, base, -1)
                    llm._batch.set_batch(batch=batch, n_past=base, logits_all=True)
                    llm._ctx.decode(llm._batch)
                    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(batch), llm.n_vocab()))
                    rows = logits.astype(np.float64)
                    rows -= rows.max(axis=1, keepdims=True)
                    logp = rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))
                    scores.append(float(np.mean(logp[np.arange(len(ctoks)), ctoks])))
            finally:
                llm._ctx.kv_cache_seq_rm(-1, base, -1)  # the cache holds the prompt again, as the ids say
                llm.n_tokens = base
            return scores

    def _prompt_tokens(self, slot: _Slot, prompt: str, num_ctx: int, max_tokens: int) -> list[int]:
        """The prompt's tokens, cut to leave room for ``max_tokens`` of output in the context window."""
        tokens = list(slot.llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        n_ctx = min(self.n_ctx, num_ctx) if num_ctx > 0 else self.n_ctx
        max_tokens = max_tokens if max_tokens > 0 else n_ctx
        limit = max(1, n_ctx - min(max_tokens, n_ctx // 2))
        if len(tokens) > limit:
            # Keep the end of the prompt (the cursor is there); prompts are meant to be budgeted before this.
            log.warning("prompt of %d tokens cut to its last %d (n_ctx %d)", len(tokens), limit, n_ctx)
            tokens = tokens[-limit:]
        return tokens

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        """Text pieces as the model produces them; closing or cancelling the iterator stops generation."""
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        slot = self._slot
        _preempt_warmups()
        stats = stats if stats is not None else GenerationStats()
        if not self._load_reported:
            stats.load_ms = self.load_ms  # like Ollama's load_duration: reported by the first request
            self._load_reported = True
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        cancel = threading.Event()
        done = threading.Event()

        def put(kind: str, value: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        loop.run_in_executor(slot.executor, self._generate, slot, request, stats, cancel, done, put)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "text":
                    yield value
                elif kind == "error":
                    raise BackendError(value)
                else:
                    break
        finally:
            if not done.is_set():
                slot.aborter.abort(cancel)  # the worker stops now, even inside a decode
                stats.finish_reason = "cancelled"

    def _generate(
        self,
        slot: _Slot,
        request: GenerationRequest,
        stats: GenerationStats,
        cancel: threading.Event,
        done: threading.Event,
        put: Callable[[str, str], None],
    ) -> None:
        try:
            with slot.lock:
                if not cancel.is_set():
                    slot.aborter.begin(cancel)
                    try:
                        self._generate_locked(slot, request, stats, cancel, put)
                    finally:
                        slot.aborter.end(cancel)
        except Exception as exc:  # a llama.cpp failure ends this request, not the daemon
            if cancel.is_set() and is_abort(exc):
                stats.finish_reason = "cancelled"
                done.set()
                put("end", "")
                return
            log.exception("embedded generation failed")
            stats.finish_reason = "error"
            done.set()
            put("error", f"the embedded model failed: {exc}")
            return
        if cancel.is_set():
            stats.finish_reason = "cancelled"
        done.set()
        put("end", "")

    def _generate_locked(
        self,
        slot: _Slot,
        request: GenerationRequest,
        stats: GenerationStats,
        cancel: threading.Event,
        put: Callable[[str, str], None],
    ) -> None:
        import llama_cpp

        llm = slot.llm
        t0 = time.perf_counter()
        tokens = self._prompt_tokens(slot, request.prompt, request.num_ctx, request.max_tokens)
        if not tokens:
            stats.finish_reason = "stop"
            return
        max_tokens = request.max_tokens if request.max_tokens > 0 else self.n_ctx
        max_tokens = min(max_tokens, self.n_ctx - len(tokens))
        stats.prompt_tokens = len(tokens)
        _prefill_locked(slot, tokens, request.prompt, cancel, EVAL_BATCH, stats, through_last=True)
        stats.prompt_eval_ms = (time.perf_counter() - t0) * 1000
        if cancel.is_set():
            stats.finish_reason = "cancelled"
            return
        slot.aborter.arm(cancel)  # the prompt is in the cache; what follows is this request's alone
        text = _TextAssembler(request.stop)
        t1 = time.perf_counter()
        stats.finish_reason = "length"
        vocab = llm._model.vocab
        # The whole prompt is evaluated and its last logits are fresh: generate() finds it cached and samples at once.
        for token in llm.generate(
            tokens, temp=request.temperature, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0, reset=True
        ):
            if cancel.is_set():
                stats.finish_reason = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                stats.finish_reason = "stop"
                break
            stats.generated_tokens += 1
            piece = text.feed(llm.detokenize([token], special=True))
            if piece:
                put("text", piece)
            if text.stopped:
                stats.finish_reason = "stop"
                break
            if stats.generated_tokens >= max_tokens:
                break
        if stats.finish_reason != "cancelled" and not text.stopped:
            rest = text.flush()
            if rest:
                put("text", rest)
        stats.generation_ms = (time.perf_counter() - t1) * 1000

    async def close(self) -> None:
        """The model stays loaded for the process (other backends may share it); nothing to release here."""
