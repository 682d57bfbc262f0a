"""How a slot's prompt is cut into batches (``llama_slots.batch_sizes``), and that the embedded backend uses it."""

from __future__ import annotations

from typing import Any

import pytest

from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EVAL_BATCH, MAX_BATCH, WARM_BATCH, EmbeddedBackend
from srag_lsp.models.llama_slots import batch_sizes
from tests.support.streams import collect


def test_batches_double_after_each_one_up_to_the_most() -> None:
    assert batch_sizes(800, 16, 256) == [16, 32, 64, 128, 256, 256, 48]
    assert batch_sizes(100, 32, 32) == [32, 32, 32, 4]  # no growth: every batch the first's size
    assert batch_sizes(5, 32, 256) == [5]
    assert batch_sizes(0, 32, 256) == []


def test_a_prompt_that_fits_the_whole_size_is_one_batch() -> None:
    assert batch_sizes(120, 32, 256, whole=256) == [120]
    assert batch_sizes(256, 32, 256, whole=256) == [256]
    assert batch_sizes(257, 32, 256, whole=256) == [32, 64, 128, 33]


def _spy_on_batches(backend: EmbeddedBackend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The real model evaluates as before; the sizes of the batches it was given are recorded."""
    assert backend._slot is not None
    llm = backend._slot.llm
    sizes: list[int] = []
    real_eval = llm.eval

    def eval_and_note(tokens: Any) -> None:
        sizes.append(len(tokens))
        real_eval(tokens)

    monkeypatch.setattr(llm, "eval", eval_and_note)
    return sizes


@pytest.mark.model
async def test_a_new_places_prompt_is_one_batch_and_a_long_one_grows(qwen: EmbeddedBackend,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = _spy_on_batches(qwen, monkeypatch)
    lines = "".join(f"item_{i} = registry.fetch({i}, depth={i % 5})\n" for i in range(12))
    short = f"<|fim_prefix|># slots short\n{lines}<|fim_suffix|><|fim_middle|>"
    stats = GenerationStats()
    await collect(qwen, GenerationRequest(short, max_tokens=1), stats)
    assert 32 < stats.prompt_evaluated <= MAX_BATCH
    assert sizes[0] == stats.prompt_evaluated  # the whole prompt in one decode: its request waits for all of it
    sizes.clear()
    long = f"<|fim_prefix|># slots long\n{lines * 8}<|fim_suffix|><|fim_middle|>"
    await collect(qwen, GenerationRequest(long, max_tokens=1), GenerationStats())
    prompt_batches = sizes[: sizes.index(1)] if 1 in sizes else sizes
    assert prompt_batches[:3] == [EVAL_BATCH, 2 * EVAL_BATCH, 4 * EVAL_BATCH]  # a refinement a key may abort
    sizes.clear()
    warm = f"<|fim_prefix|># slots warm\n{lines * 8}<|fim_suffix|><|fim_middle|>"
    await qwen.prefill(warm, num_ctx=4096, max_tokens=64)
    assert sizes[:3] == [WARM_BATCH, 2 * WARM_BATCH, 4 * WARM_BATCH]
    assert max(sizes) == MAX_BATCH
