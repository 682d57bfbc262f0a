"""The one place that touches llama-cpp-python's internals: the ``Llama`` object's KV-cache bookkeeping.

The public ``Llama`` API re-evaluates or resets the whole context whenever a prompt is not an exact extension of
the last one, and it cannot score a continuation without generating it. The embedded backend needs three things
that API lacks, so it reaches into llama-cpp-python 0.3.x here, and nowhere else:

- ``llm.n_tokens`` (how many of ``llm.input_ids`` the KV cache holds) is read to find the common prefix with a new
  prompt, and written to drop the cache's tail (``llm.eval`` appends at ``n_tokens``);
- ``llm._ctx`` (the ``LlamaContext`` wrapper): ``kv_cache_seq_rm`` drops KV positions from a point on (keep the
  common prefix, forget a scored continuation), ``decode``/``get_logits`` evaluate a batch with logits for every
  token (scoring), and ``ctx`` is the raw ``llama_context`` pointer (``decode_abort`` installs its callback there);
- ``llm._batch`` (the ``LlamaBatch`` wrapper): ``set_batch(..., logits_all=True)`` for that scoring batch;
- ``llm._model.vocab``: the vocabulary handle ``llama_vocab_is_eog`` needs to recognise end-of-generation tokens;
- ``llm.generate(..., reset=True)`` samples at once, without evaluating anything, when ``n_tokens`` equals the
  prompt's length and the ids match (its own prefix check), which is how a prompt we evaluated ourselves is used;
- ``llm.verbose`` is turned off after loading (it is only a constructor argument);
- ``llm._sampler`` (the sampler chain ``generate`` leaves behind) is closed and dropped after each generation.

A llama-cpp-python upgrade must re-check these names (the embedded model tests exercise each of them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any


def context_handle(llm: Any) -> Any:
    """The raw ``llama_context`` pointer of ``llm`` (for C calls such as ``llama_set_abort_callback``)."""
    return llm._ctx.ctx


def quiet(llm: Any) -> None:
    """No more per-request prints from ``llm`` (it was loaded with ``verbose=True``, see ``llama_slots``)."""
    llm.verbose = False


def cached_count(llm: Any) -> int:
    """How many tokens the KV cache holds (the first ``n`` of ``llm.input_ids``)."""
    return int(llm.n_tokens)


def held_tokens(llm: Any) -> Sequence[int]:
    """The token ids the KV cache holds, in order."""
    return llm.input_ids[: llm.n_tokens]  # type: ignore[no-any-return]


def keep_prefix(llm: Any, prefix: int) -> int:
    """Make the KV cache hold only its first ``prefix`` tokens; return how many it holds (0 after a reset).

    When llama.cpp cannot remove the tail (some memory types cannot), the context is reset instead.
    """
    if prefix < llm.n_tokens and not llm._ctx.kv_cache_seq_rm(-1, prefix, -1):
        llm.reset()
        prefix = 0
    llm.n_tokens = prefix
    return prefix


def batch_log_probs(llm: Any, batch: list[int], n_past: int) -> Any:
    """Evaluate ``batch`` at positions ``n_past``... with logits for every token; the log-softmax rows (float64).

    Whatever the cache held from ``n_past`` on is dropped first; the batch's own positions stay in the cache until
    ``rewind``.
    """
    import numpy as np

    llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
    llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=True)
    llm._ctx.decode(llm._batch)
    logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(len(batch), llm.n_vocab()))
    rows = logits.astype(np.float64)
    rows -= rows.max(axis=1, keepdims=True)
    return rows - np.log(np.exp(rows).sum(axis=1, keepdims=True))


def rewind(llm: Any, n: int) -> None:
    """Forget every KV position from ``n`` on, so that the cache holds the first ``n`` ids again, as they say."""
    llm._ctx.kv_cache_seq_rm(-1, n, -1)
    llm.n_tokens = n


def end_of_generation(llm: Any) -> Callable[[int], bool]:
    """A test for the model's end-of-generation tokens (EOS, EOT, ...)."""
    import llama_cpp

    vocab = llm._model.vocab
    return lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))


def sample_after(llm: Any, tokens: list[int], *, temperature: float) -> Iterator[int]:
    """Tokens sampled after ``tokens``, which the KV cache already holds whole with fresh logits.

    ``generate`` finds the prompt cached (``n_tokens == len(tokens)``, same ids) and samples at once. When the
    iteration ends (or is closed), the sampler chain it left on the model is released (``release_sampler``).
    """
    sampled = llm.generate(tokens, temp=temperature, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0,
                           reset=True)
    try:
        yield from sampled
    finally:
        sampled.close()
        release_sampler(llm)


def release_sampler(llm: Any) -> None:
    """Free the sampler chain ``Llama.generate`` left in ``llm._sampler`` now, not at a full GC pass.

    Each ``generate`` builds a new ``LlamaSampler`` and the next one replaces it. A ``LlamaSampler`` is in a
    reference cycle (its ExitStack's callback closes over it), so a replaced one (native chain included, ~11 kB)
    is freed only when the cyclic GC examines the oldest generation, which is rare in a daemon: in the soak the
    model thread's malloc arena grew ~4 MB a minute from them (issue 23). ``close()`` frees the chain and empties
    the ExitStack, which breaks the cycle.
    """
    sampler = getattr(llm, "_sampler", None)
    llm._sampler = None
    if sampler is not None:
        with contextlib.suppress(Exception):
            sampler.close()
