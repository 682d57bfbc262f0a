"""The embedded backend: llama.cpp in process (llama-cpp-python), generation off the event loop.

One long-lived ``Llama`` per (model file, slot) for the whole process, so a prompt that extends the
previous one re-uses its KV cache: only the new tokens are evaluated. The draft and refine stages use
separate slots (the weights are memory-mapped once; each slot has its own small KV cache), so they do not
evict each other's prefix. Generation runs in a worker thread that hands text to the event loop; a cancel
flag is checked between prompt-evaluation batches and between generated tokens.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from srag_lsp.models.base import BackendError, BackendInfo, GenerationRequest, GenerationStats
from srag_lsp.models.catalog import ModelUnavailable, ensure_model, model_info

log = logging.getLogger(__name__)

EVAL_BATCH = 64  # prompt tokens evaluated between two looks at the cancel flag

_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, int], _Slot] = {}


class _Slot:
    """One loaded model instance (one KV sequence) and the lock that serialises its use."""

    def __init__(self, llm: Any) -> None:
        self.llm = llm
        self.lock = threading.Lock()
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="srag-llama")


@contextlib.contextmanager
def _stdout_to_stderr() -> Any:
    """llama.cpp must never write to stdout (it carries the LSP protocol): point fd 1 at fd 2 meanwhile."""
    try:
        saved = os.dup(1)
    except OSError:
        yield
        return
    try:
        os.dup2(2, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _load(path: Path, slot: str, n_ctx: int) -> _Slot:
    key = (str(path), slot, n_ctx)
    with _registry_lock:
        found = _registry.get(key)
        if found is not None:
            return found
        import llama_cpp

        with _stdout_to_stderr():
            llm = llama_cpp.Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=os.cpu_count() or 2, n_batch=256,
                verbose=False, logits_all=False,
            )
        _registry[key] = _Slot(llm)
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


class EmbeddedBackend:
    """llama.cpp in process. ``slot`` names an independent KV sequence of the same model file."""

    def __init__(self, model: str, *, model_dir: Path, n_ctx: int = 4096, slot: str = "main") -> None:
        self.model = model
        self.model_dir = model_dir
        self.n_ctx = n_ctx
        self.slot_name = slot
        name, fim = model_info(model)
        self.info = BackendInfo(backend="embedded", model=name, fim=fim)
        self.warnings: list[str] = []
        self._slot: _Slot | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            path = await loop.run_in_executor(None, ensure_model, self.model, self.model_dir)
        except ModelUnavailable as exc:
            raise BackendError(str(exc)) from None
        try:
            self._slot = await loop.run_in_executor(None, _load, path, self.slot_name, self.n_ctx)
        except ImportError:
            raise BackendError(
                "llama-cpp-python is not installed: run scripts/setup.sh (it builds it with safe CPU flags)"
            ) from None
        except Exception as exc:
            raise BackendError(f"cannot load the embedded model {path}: {exc}") from exc
        self.info.detail = str(path)
        if not self.info.fim:
            self.warnings.append(
                f"srag-lsp: the embedded model {self.info.model} has no fill-in-the-middle support; "
                "completions see only the text before the cursor"
            )

    def with_slot(self, slot: str) -> EmbeddedBackend:
        """The same model in another KV sequence (for a second generation stage)."""
        return EmbeddedBackend(self.model, model_dir=self.model_dir, n_ctx=self.n_ctx, slot=slot)

    async def stream(self, request: GenerationRequest, stats: GenerationStats | None = None) -> AsyncIterator[str]:
        if self._slot is None:
            raise BackendError("the embedded model is not loaded")
        slot = self._slot
        stats = stats if stats is not None else GenerationStats()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        cancel = threading.Event()

        def put(kind: str, value: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop may be gone at shutdown
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))

        future = loop.run_in_executor(slot.executor, self._generate, slot, request, stats, cancel, put)
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
            if not future.done():
                cancel.set()
                stats.finish_reason = stats.finish_reason or "cancelled"

    def _generate(self, slot: _Slot, request: GenerationRequest, stats: GenerationStats,
                  cancel: threading.Event, put: Callable[[str, str], None]) -> None:
        try:
            with slot.lock:
                self._generate_locked(slot.llm, request, stats, cancel, put)
        except Exception as exc:  # a llama.cpp failure ends this request, not the daemon
            log.exception("embedded generation failed")
            stats.finish_reason = "error"
            put("error", f"embedded model failed: {exc}")
            return
        put("end", "")

    def _generate_locked(self, llm: Any, request: GenerationRequest, stats: GenerationStats,
                         cancel: threading.Event, put: Callable[[str, str], None]) -> None:
        import llama_cpp

        t0 = time.perf_counter()
        tokens = llm.tokenize(request.prompt.encode("utf-8"), add_bos=True, special=True)
        limit = min(self.n_ctx, request.num_ctx) - max(1, request.max_tokens)
        if len(tokens) > limit:
            # Keep the end of the prompt (the cursor is there); FIM prompts put the middle marker last.
            tokens = tokens[-limit:]
        stats.prompt_tokens = len(tokens)
        prefix = _common_prefix(llm.input_ids[: llm.n_tokens], tokens)
        if prefix >= len(tokens):
            prefix = len(tokens) - 1
        if prefix < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, prefix, -1):
            llm.reset()
            prefix = 0
        llm.n_tokens = prefix
        stats.prompt_evaluated = len(tokens) - prefix
        # Evaluate the prompt (all but its last token) in small batches so a cancel lands quickly.
        pending = tokens[prefix:-1]
        for i in range(0, len(pending), EVAL_BATCH):
            if cancel.is_set():
                stats.finish_reason = "cancelled"
                return
            llm.eval(pending[i : i + EVAL_BATCH])
        stats.prompt_eval_ms = (time.perf_counter() - t0) * 1000
        if cancel.is_set():
            stats.finish_reason = "cancelled"
            return
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        emitted = 0
        t1 = time.perf_counter()
        stats.finish_reason = "length"
        stopped_by_string = False
        vocab = llm._model.vocab
        for token in llm.generate(tokens, temp=request.temperature, top_k=40, top_p=0.95, repeat_penalty=1.0,
                                  reset=True):
            if cancel.is_set():
                stats.finish_reason = "cancelled"
                break
            if llama_cpp.llama_vocab_is_eog(vocab, token):
                stats.finish_reason = "stop"
                break
            stats.generated_tokens += 1
            text += decoder.decode(llm.detokenize([token], special=True))
            cut = min((text.find(s) for s in request.stop if s and s in text), default=-1)
            if cut != -1:
                text = text[:cut]
                if len(text) > emitted:
                    put("text", text[emitted:])
                stats.finish_reason = "stop"
                stopped_by_string = True
                break
            safe = len(text) - _held_back(text, request.stop)
            if safe > emitted:
                put("text", text[emitted:safe])
                emitted = safe
            if stats.generated_tokens >= request.max_tokens:
                break
        if stats.finish_reason != "cancelled" and not stopped_by_string and len(text) > emitted:
            put("text", text[emitted:])  # what was held back for a stop sequence that never came
        stats.generation_ms = (time.perf_counter() - t1) * 1000

    async def close(self) -> None:
        """The model stays loaded for the process (other backends may share it); nothing to release here."""
