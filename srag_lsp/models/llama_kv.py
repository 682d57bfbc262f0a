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
- ``llm.generate(..., logits_processor=...)`` runs the processor as the chain's first sampler, over the whole
  vocabulary in token order (token healing masks logits there);
- ``llm.generate(..., reset=True)`` samples at once, without evaluating anything, when ``n_tokens`` equals the
  prompt's length and the ids match (its own prefix check), which is how a prompt we evaluated ourselves is used;
- ``llm.verbose`` is turned off after loading (it is only a constructor argument);
- ``llm._sampler`` (the sampler chain ``generate`` leaves behind) is closed and dropped after each generation;
- ``llm.context_params`` and ``llm._model``: the context is made again after loading with room for a second, scratch
  KV sequence in the same buffer (``allow_scratch_sequence``), and ``llama_memory_seq_cp``/``_add``/``_rm`` with a
  hand-filled ``llm._batch`` insert tokens in front of cached ones (``insert_tokens``).

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


def last_logits(llm: Any) -> Any:
    """The logits of the last token evaluated (a model loaded with ``logits_all=False``), as float64."""
    import numpy as np

    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)


def rewind(llm: Any, n: int) -> None:
    """Forget every KV position from ``n`` on, so that the cache holds the first ``n`` ids again, as they say."""
    llm._ctx.kv_cache_seq_rm(-1, n, -1)
    llm.n_tokens = n


SCRATCH_SEQ = 1  # the sequence that evaluates inserted tokens; sequence 0 is the slot's prompt


def allow_scratch_sequence(llm: Any) -> None:
    """Make ``llm``'s context again with room for a second KV sequence in the same cache (``insert_tokens``).

    ``Llama`` makes a one-sequence context. llama.cpp requires each sequence's new positions to follow its last one,
    so tokens that go in front of cached ones are evaluated in a scratch sequence holding the shared start, then
    joined to sequence 0. One unified KV buffer (``kv_unified``) keeps ``n_ctx`` cells for the prompt.
    """
    from llama_cpp import _internals

    params = llm.context_params
    params.n_seq_max = 2
    params.kv_unified = True
    old = llm._ctx
    llm._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=llm.verbose)
    old.close()


def _decode_in(llm: Any, tokens: Sequence[int], pos0: int, seq: int) -> None:
    """Evaluate ``tokens`` at positions ``pos0``... of sequence ``seq``, no logits (RuntimeError as ``eval``)."""
    import llama_cpp

    batch = llm._batch.batch
    batch.n_tokens = len(tokens)
    for i, token in enumerate(tokens):
        batch.token[i] = token
        batch.pos[i] = pos0 + i
        batch.seq_id[i][0] = seq
        batch.n_seq_id[i] = 1
        batch.logits[i] = False
    code = llama_cpp.llama_decode(llm._ctx.ctx, batch)
    if code != 0:
        raise RuntimeError(f"llama_decode returned {code}")


def insert_tokens(llm: Any, at: int, tokens: Sequence[int], batch: int,
                  steady: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext) -> None:
    """Make the KV cache hold ``held[:at] + tokens + held[at:]``, evaluating only ``tokens``.

    The held tokens after ``at`` move ``len(tokens)`` positions on (llama.cpp re-rotates their keys, RoPE); they
    keep what they were computed from, so they do not attend to the inserted tokens: the prompt is approximated
    there, as llama-server's ``--cache-reuse`` approximates a shifted chunk. New tokens after them see everything.
    The decodes run inside ``steady()``: the first one applies the shift, which must not be stopped half way
    (``DecodeAborter.steady``). After an error (nothing stops them, so a failure of llama.cpp) the cache is empty.
    """
    import llama_cpp

    mem = llm._ctx.memory
    n = int(llm.n_tokens)
    held = [int(t) for t in held_tokens(llm)]
    m = len(tokens)
    llama_cpp.llama_memory_seq_rm(mem, SCRATCH_SEQ, -1, -1)
    llama_cpp.llama_memory_seq_cp(mem, 0, SCRATCH_SEQ, 0, at)
    llama_cpp.llama_memory_seq_add(mem, 0, at, -1, m)  # applied by the next decode, the scratch one below
    try:
        with steady():
            for i in range(0, m, batch):
                _decode_in(llm, tokens[i : i + batch], at + i, SCRATCH_SEQ)
        llama_cpp.llama_memory_seq_cp(mem, SCRATCH_SEQ, 0, at, at + m)
    except BaseException:
        # The shift may be half applied: nothing held can be trusted, so the cache is emptied.
        llama_cpp.llama_memory_seq_rm(mem, -1, -1, -1)
        llm.n_tokens = 0
        raise
    finally:
        llama_cpp.llama_memory_seq_rm(mem, SCRATCH_SEQ, -1, -1)
    llm.input_ids[: n + m] = [*held[:at], *tokens, *held[at:]]
    llm.n_tokens = n + m


def remove_tokens(llm: Any, start: int, end: int) -> None:
    """Drop the held tokens ``start:end``; those after them move back (the inverse shift of ``insert_tokens``).

    The shift is applied by the next decode, which must not be stopped (``insert_tokens`` right after, in
    ``prompt_growth.apply``)."""
    import llama_cpp

    if end <= start:
        return
    mem = llm._ctx.memory
    held = [int(t) for t in held_tokens(llm)]
    llama_cpp.llama_memory_seq_rm(mem, 0, start, end)
    llama_cpp.llama_memory_seq_add(mem, 0, end, -1, start - end)
    rest = [*held[:start], *held[end:]]
    llm.input_ids[: len(rest)] = rest
    llm.n_tokens = len(rest)


def token_bytes(llm: Any, token: int) -> bytes:
    """The text of one token (special tokens as their names)."""
    return bytes(llm.detokenize([int(token)], special=True))


def vocabulary_bytes(llm: Any) -> list[bytes]:
    """Every token's text in id order; empty for control tokens (they have no text outside special parsing)."""
    return [bytes(llm.detokenize([token], special=False)) for token in range(llm.n_vocab())]


def text_of(llm: Any, tokens: Sequence[int]) -> str:
    """The text of ``tokens`` (special tokens as their names): what a prompt of them said."""
    return bytes(llm.detokenize([int(t) for t in tokens], special=True)).decode("utf-8", "replace")


def end_of_generation(llm: Any) -> Callable[[int], bool]:
    """A test for the model's end-of-generation tokens (EOS, EOT, ...)."""
    import llama_cpp

    vocab = llm._model.vocab
    return lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token))


def sample_after(llm: Any, tokens: list[int], *, temperature: float,
                 logits_processors: Sequence[Callable[[Any, Any], Any]] = ()) -> Iterator[int]:
    """Tokens sampled after ``tokens``, which the KV cache already holds whole with fresh logits.

    ``generate`` finds the prompt cached (``n_tokens == len(tokens)``, same ids) and samples at once. When the
    iteration ends (or is closed), the sampler chain it left on the model is released (``release_sampler``).
    ``logits_processors`` (each given the ids so far and the logits of every token, in order) may change logits
    before sampling.
    """
    processors = list(logits_processors) or None
    sampled = llm.generate(tokens, temp=temperature, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0,
                           reset=True, logits_processor=processors)
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
