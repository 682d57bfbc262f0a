"""The embedded backend: llama.cpp in process (llama-cpp-python) behind ``ModelBackend``, off the event loop.

The model and its KV cache live in a slot (``llama_slots``): a prompt that extends the previous one re-uses the
cache, and the draft and refine stages use separate slots so they do not evict each other's prefix. Generation
runs in the slot's worker thread, which hands text to the event loop (``call_soon_threadsafe`` into an
``asyncio.Queue``); a cancel flag is checked between prompt-evaluation batches and between generated tokens, a
running token decode is aborted at once (``decode_abort``), and the slot's lock lets one job at a time use its
single sequence. Besides generating, the backend prefills (warm-ups), scores continuations and tells how much of a
prompt its cache holds; with ``GenerationRequest.grow_tokens`` it keeps a cached run that a prompt has further on and
grows the prompt in front of it (``prompt_growth``). What it needs of llama-cpp-python's internals is in ``llama_kv``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.models import llama_kv, prompt_growth
from srag_lsp.models.base import BackendError, BackendInfo, FimParts, GenerationRequest, GenerationStats
from srag_lsp.models.bf16_weights import weights_for
from srag_lsp.models.catalog import CatalogModel, ModelUnavailable, ensure_model, model_info, resolve
from srag_lsp.models.decode_abort import is_abort
from srag_lsp.models.forced_start import ForcedStart, VocabIndex, vocab_index
from srag_lsp.models.llama_slots import (
    N_BATCH,
    Slot,
    common_token_prefix,
    cpu_count,
    load,
    preempt_for,
    prefill_locked,
)
from srag_lsp.models.text_assembly import TextAssembler
from srag_lsp.models.token_confidence import ChoiceProbability

log = logging.getLogger(__name__)

# Prompt batches (``llama_slots.batch_sizes``). A generation's prompt of at most MAX_BATCH new tokens (a key, a new
# place's draft window) is one batch: nothing stops it half way and its request waits for all of it (a 108-token
# prompt here: 294 ms against 403 ms in batches of 32 with the BF16 weights, 439 against 524 ms with the shipped
# file). A longer one (a refinement's context), which a key aborts, starts at EVAL_BATCH and doubles up to
# MAX_BATCH while no key comes; a warm-up, which any request aborts, the same from WARM_BATCH.
EVAL_BATCH = 32
WARM_BATCH = 16
MAX_BATCH = N_BATCH
SHIFT_PROBE_CHARS = 32  # held text that must reappear further on in a prompt to count as shifted


class EmbeddedBackend:
    """llama.cpp in process. ``slot`` names an independent KV sequence of the same model file."""

    def __init__(
        self, model: str, *, model_dir: Path, n_ctx: int = 4096, slot: str = "main", n_threads: int | None = None,
        weights: str = "auto",
    ) -> None:
        """``n_threads``: llama.cpp threads (None = every core). With every core busy elsewhere too (the indexer,
        the editor), llama.cpp's threads wait on each other: on 2 cores with one core taken, 2 threads generated
        0.5 to 3 tokens/s where 1 thread made 5. ``weights``: ``embeddedWeights`` (``bf16_weights``)."""
        self.model = model
        self.weights = weights
        self.model_dir = model_dir
        self.n_ctx = n_ctx
        self.n_threads = n_threads or cpu_count()
        self.slot_name = slot
        name, fim = model_info(model)
        self.info = BackendInfo(backend="embedded", model=name, fim=fim, heals=True)
        self.warnings: list[str] = []
        self.load_ms = 0.0
        self._slot: Slot | None = None
        self._vocab: VocabIndex | None = None
        self._load_reported = False

    async def start(self) -> None:
        """Assemble (first use) and load the model in a thread; BackendError with a user-facing message."""
        if self._slot is not None:
            return
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(None, ensure_model, self.model, self.model_dir)
            if isinstance(resolve(self.model), CatalogModel):  # a file the user named is loaded as it is
                path, warning = await loop.run_in_executor(None, weights_for, path, self.weights)
                if warning:
                    log.warning("%s", warning)
                    self.warnings.append(warning)
        except ModelUnavailable as exc:
            raise BackendError(str(exc)) from None
        except OSError as exc:
            raise BackendError(f"cannot prepare the embedded model {self.model} in {self.model_dir}: {exc}") from None
        try:
            self._slot = await loop.run_in_executor(None, load, path, self.slot_name, self.n_ctx, self.n_threads)
        except ImportError:
            raise BackendError(
                "llama-cpp-python is not installed: run scripts/setup.sh (it builds it with safe CPU flags)"
            ) from None
        except Exception as exc:
            raise BackendError(f"cannot load the embedded model {path}: {exc}") from exc
        self.load_ms = self._slot.load_ms
        self.info.detail = str(path)
        llm = self._slot.llm
        # Token healing's table, built now (about 0.6 s) so that no key waits for it.
        self._vocab = await loop.run_in_executor(None, vocab_index, str(path), lambda: llama_kv.vocabulary_bytes(llm))
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: the embedded model {self.info.model} has no fill-in-the-middle support; "
                "completions see only the text before the cursor"
            )

    def with_slot(self, slot: str) -> EmbeddedBackend:
        """The same model in another KV sequence (for a second generation stage)."""
        return EmbeddedBackend(
            self.model, model_dir=self.model_dir, n_ctx=self.n_ctx, slot=slot, n_threads=self.n_threads,
            weights=self.weights,
        )

    def cached_tokens(self, prompt: str) -> tuple[int, int]:
        """(tokens of ``prompt`` already in this slot's KV cache, prompt tokens): what a prefill would skip."""
        if self._slot is None:
            return 0, 0
        llm = self._slot.llm
        tokens = list(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
        return common_token_prefix(llama_kv.held_tokens(llm), tokens), len(tokens)

    def cached_share(self, prompt: str, *, fim: FimParts | None = None) -> float | None:
        """Share of ``prompt`` (by characters) that this slot's KV cache already holds; microseconds, no tokenizing.

        Never None here: 0.0 before the model is loaded and for an empty prompt.

        ``cached_tokens`` is exact but tokenizes the whole prompt (about 4 ms for 900 tokens), too slow to decide
        on the request path.
        """
        if self._slot is None or not prompt:
            return 0.0
        return common_prefix_length(self._slot.held_prompt, prompt) / len(prompt)

    def shifted_chars(self, prompt: str) -> int:
        """Characters of ``prompt`` that this slot's cache holds further on than where ``prompt`` has them (a short
        window at the same place, to grow in front of with ``GenerationRequest.grow_tokens``); 0 when none."""
        if self._slot is None or not prompt:
            return 0
        held = self._slot.held_prompt
        at = common_prefix_length(held, prompt)
        probe = held[at : at + SHIFT_PROBE_CHARS]
        if len(probe) < SHIFT_PROBE_CHARS:
            return 0
        found = prompt.find(probe, at + 1)
        return common_prefix_length(held[at:], prompt[found:]) if found >= 0 else 0

    def tokenize(self, text: str) -> list[int]:
        """The model's tokens for ``text`` as a prompt (special tokens parsed); for budgeting prompts."""
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        return list(self._slot.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    async def prefill(self, prompt: str, *, num_ctx: int, max_tokens: int, fim: FimParts | None = None,
                      grow_tokens: int = 0) -> int:
        """Evaluate ``prompt`` into this slot's KV cache without generating: a warm-up off the keystroke path.

        The lowest priority: any generation (on any slot) stops it at its next small batch, and a newer warm-up
        replaces it. What it evaluated stays cached. Returns the prompt tokens it evaluated (0 before the model is
        loaded, or when it failed). The prompt is cut as a generation's would be (``num_ctx``, ``max_tokens``; 0:
        this slot's n_ctx, and half of it kept for output).
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
                                              grow_tokens, cancel)
        except asyncio.CancelledError:
            slot.aborter.abort(cancel)
            raise

    def _prefill_job(self, slot: Slot, prompt: str, num_ctx: int, max_tokens: int, grow_tokens: int,
                     cancel: threading.Event) -> int:
        try:
            with slot.lock:
                if cancel.is_set():
                    return 0
                tokens = self._prompt_tokens(slot, prompt, num_ctx, max_tokens)
                if len(tokens) < 2:
                    return 0
                slot.aborter.begin(cancel)
                try:
                    inserted = 0
                    if grow_tokens > 0:
                        inserted = prompt_growth.grow_all(slot, tokens, prompt, grow_tokens, cancel, WARM_BATCH)
                    if cancel.is_set():
                        return inserted
                    reused = prefill_locked(slot, tokens, prompt, cancel, WARM_BATCH, most=MAX_BATCH)
                finally:
                    slot.aborter.end(cancel)
                return inserted + max(0, llama_kv.cached_count(slot.llm) - reused)
        except Exception as exc:  # a warm-up never takes the daemon down
            if not (cancel.is_set() and is_abort(exc)):
                log.warning("embedded warm-up failed: %s", exc)
            return 0
        finally:
            if slot.warm_cancel is cancel:
                slot.warm_cancel = None

    async def score(self, prompt: str, continuations: list[str], *, fim: FimParts | None = None) -> list[float] | None:
        """The mean log-probability per token of each continuation after ``prompt`` (higher: the model prefers it).

        The prompt's KV cache is re-used (it is usually the one a refinement just evaluated), and each continuation
        costs one batch of its first 64 tokens. An empty continuation scores -inf. Never None here: before the
        model is loaded it raises BackendError, as ``stream`` does; a llama.cpp failure raises too.
        """
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        preempt_for(self._slot)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._slot.executor, self._score_job, self._slot, prompt, continuations)

    def _score_job(self, slot: Slot, prompt: str, continuations: list[str]) -> list[float]:
        import numpy as np

        with slot.lock:
            llm = slot.llm
            tokens = self._prompt_tokens(slot, prompt, 0, 64)
            prefill_locked(slot, tokens, prompt, threading.Event(), EVAL_BATCH)
            base = llama_kv.cached_count(llm)  # all but the prompt's last token are in the KV cache
            scores: list[float] = []
            try:
                for text in continuations:
                    ctoks = list(llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))[:64]
                    if not text or not ctoks:
                        scores.append(float("-inf"))
                        continue
                    batch = [tokens[-1], *ctoks[:-1]]
                    logp = llama_kv.batch_log_probs(llm, batch, base)
                    scores.append(float(np.mean(logp[np.arange(len(ctoks)), ctoks])))
            finally:
                llama_kv.rewind(llm, base)  # the cache holds the prompt again, as the ids say
            return scores

    def _prompt_tokens(self, slot: Slot, prompt: str, num_ctx: int, max_tokens: int) -> list[int]:
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
        preempt_for(slot)
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

        submitted = time.perf_counter()
        loop.run_in_executor(slot.executor, self._generate, slot, request, stats, cancel, done, put, submitted)
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
        slot: Slot,
        request: GenerationRequest,
        stats: GenerationStats,
        cancel: threading.Event,
        done: threading.Event,
        put: Callable[[str, str], None],
        submitted: float,
    ) -> None:
        try:
            with slot.lock:
                stats.queue_ms = (time.perf_counter() - submitted) * 1000
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
        slot: Slot,
        request: GenerationRequest,
        stats: GenerationStats,
        cancel: threading.Event,
        put: Callable[[str, str], None],
    ) -> None:
        llm = slot.llm
        t0 = time.perf_counter()
        tokens = self._prompt_tokens(slot, request.prompt, request.num_ctx, request.max_tokens)
        if not tokens:
            stats.finish_reason = "stop"
            return
        max_tokens = request.max_tokens if request.max_tokens > 0 else self.n_ctx
        max_tokens = min(max_tokens, self.n_ctx - len(tokens))
        whole, prompt = tokens, request.prompt
        if request.grow_tokens is not None:  # keep a held run found further on; nothing is inserted before text
            tokens, prompt, _ = prompt_growth.grow(slot, tokens, prompt, 0, cancel, EVAL_BATCH)
        stats.prompt_tokens = len(tokens)
        prefill_locked(slot, tokens, prompt, cancel, EVAL_BATCH, stats, through_last=True, most=MAX_BATCH,
                       whole=MAX_BATCH)
        stats.prompt_eval_ms = (time.perf_counter() - t0) * 1000
        if cancel.is_set():
            stats.finish_reason = "cancelled"
            return
        slot.aborter.arm(cancel)  # the prompt is in the cache; what follows is this request's alone
        text = TextAssembler(request.stop)
        t1 = time.perf_counter()
        stats.finish_reason = "length"
        is_eog = llama_kv.end_of_generation(llm)
        generated: list[int] = []
        grow = request.grow_tokens is not None and request.grow_tokens > 0 and len(tokens) < len(whole)
        forced = ForcedStart(request.forced, self._vocab) if request.forced and self._vocab is not None else None
        sureness = ChoiceProbability() if request.min_token_p > 0 else None
        while True:
            step = False
            # The prompt (and what was generated after it, but its last token) is evaluated and the last logits
            # are fresh, or only the last token is left: sampling starts at once.
            processors: list[Callable[[Any, Any], Any]] = []
            if forced is not None and forced.active:
                processors.append(forced)
            if sureness is not None:
                processors.append(sureness)
            with contextlib.closing(llama_kv.sample_after(llm, [*tokens, *generated], temperature=request.temperature,
                                                          logits_processors=processors)) as sampled:
                for token in sampled:
                    if cancel.is_set():
                        stats.finish_reason = "cancelled"
                        break
                    if is_eog(token):
                        stats.finish_reason = "stop"
                        break
                    if sureness is not None and text.text.strip() and sureness.of(token) < request.min_token_p:
                        stats.finish_reason = "unsure"  # the confidence cut: the suggestion ends before this token
                        break
                    stats.generated_tokens += 1
                    generated.append(token)
                    token_text = llm.detokenize([token], special=True)
                    if forced is not None:
                        token_text = forced.consume(token_text)  # the forced start is the prompt's, not new text
                    piece = text.feed(token_text) if token_text else ""
                    if piece:
                        put("text", piece)
                    if text.stopped:
                        stats.finish_reason = "stop"
                        break
                    if stats.generated_tokens >= max_tokens:
                        break
                    if grow and text.text.strip():
                        step = True  # the user sees text now: a step of the window's growth goes first
                        break
            if not step or cancel.is_set():
                break
            grow = False
            # One step, abortable (the decode is armed): the next key does not wait for it.
            now, _, n = prompt_growth.grow(slot, [*whole, *generated], "", request.grow_tokens or 0, cancel, EVAL_BATCH)
            stats.prompt_evaluated += n
            tokens = now[: len(now) - len(generated)]
        if stats.finish_reason != "cancelled" and not text.stopped:
            rest = text.flush()
            if rest:
                put("text", rest)
        stats.generation_ms = (time.perf_counter() - t1) * 1000

    async def close(self) -> None:
        """The model stays loaded for the process (other backends may share it); nothing to release here."""
