"""How sure the model was of each token it chose: the probability the sampler's input gave that token.

A logits processor (last in the chain of processors) keeps a copy of the logits each step sees; the generation loop
then asks for the chosen token's probability. The confidence cut (``GenerationRequest.min_token_p``) ends a
suggestion before the first visible token the model was unsure of.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ChoiceProbability:
    """A llama-cpp-python ``LogitsProcessor`` that leaves the logits as they are and remembers them."""

    def __init__(self) -> None:
        self._logits: np.ndarray | None = None

    def __call__(self, _input_ids: Any, logits: np.ndarray) -> np.ndarray:
        self._logits = np.array(logits, dtype=np.float64)  # a copy: later samplers may reorder theirs in place
        return logits

    def of(self, token: int) -> float:
        """The probability of ``token`` at the last step (softmax of the remembered logits); 1.0 before any step."""
        logits = self._logits
        if logits is None or not 0 <= token < len(logits) or not np.isfinite(logits[token]):
            return 1.0 if logits is None else 0.0
        top = float(np.max(logits))
        return float(np.exp(logits[token] - top) / np.sum(np.exp(logits - top)))
