"""The chosen token's probability, as the confidence cut reads it (made-up logits; the real model's side is in
test_embedded.py)."""

from __future__ import annotations

import math

import numpy as np

from srag_lsp.models.token_confidence import ChoiceProbability


def test_the_probability_is_the_softmax_of_the_logits_the_step_saw() -> None:
    seen = ChoiceProbability()
    assert seen.of(0) == 1.0  # no step yet: nothing to be unsure of
    logits = np.array([2.0, 0.0, -np.inf], dtype=np.float32)
    assert seen(None, logits) is logits  # the logits pass unchanged
    logits[0] = -5.0  # a later sampler reordering its array in place does not change what was seen
    assert math.isclose(seen.of(0), math.exp(2) / (math.exp(2) + 1))
    assert math.isclose(seen.of(1), 1 / (math.exp(2) + 1))
    assert seen.of(2) == 0.0 and seen.of(7) == 0.0  # a masked token, an unknown one
