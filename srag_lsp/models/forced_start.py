"""Token healing's second half: the output must start with given text, and the model picks the tokens for it.

``VocabIndex`` holds every token's bytes sorted, so the tokens that agree with what is left to write (they start
with it, or it starts with them) are one slice plus a few lookups. ``ForcedStart`` masks every other token's logit
while text is left, and takes the forced bytes out of what the caller shows.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

_TOP = b"\xff" * 64  # above every token that starts with a given byte string


class VocabIndex:
    """The byte text of every ordinary token of a vocabulary, sorted for prefix lookups."""

    def __init__(self, token_bytes: Sequence[bytes]) -> None:
        """``token_bytes[i]`` is token ``i``'s text; empty for control tokens, which are never allowed."""
        pairs = sorted((b, i) for i, b in enumerate(token_bytes) if b)
        self.keys = [b for b, _ in pairs]
        self.ids = np.array([i for _, i in pairs], dtype=np.int64)
        self.exact: dict[bytes, int] = {}
        for b, i in pairs:
            self.exact.setdefault(b, i)

    def agreeing(self, left: bytes) -> np.ndarray:
        """The tokens whose text starts with ``left`` or is a proper start of it."""
        lo = bisect.bisect_left(self.keys, left)
        hi = bisect.bisect_left(self.keys, left + _TOP, lo)
        starts = [self.exact[left[:n]] for n in range(1, len(left)) if left[:n] in self.exact]
        return np.concatenate([self.ids[lo:hi], np.array(starts, dtype=np.int64)])


class ForcedStart:
    """The bytes the output must start with, consumed token by token; a logits processor while any are left."""

    def __init__(self, text: str, index: VocabIndex) -> None:
        self.left = text.encode("utf-8")
        self.index = index

    @property
    def active(self) -> bool:
        return bool(self.left)

    def __call__(self, _input_ids: Any, logits: np.ndarray) -> np.ndarray:
        """llama-cpp-python's ``LogitsProcessor``: every token that disagrees with the forced text gets -inf."""
        if not self.left:
            return logits
        allowed = self.index.agreeing(self.left)
        masked = np.full_like(logits, -np.inf)
        masked[allowed] = logits[allowed]
        return masked

    def consume(self, token_text: bytes) -> bytes:
        """Account for one generated token; return the part of its text that comes after the forced text."""
        if not self.left:
            return token_text
        n = min(len(self.left), len(token_text))
        self.left = self.left[n:]
        return token_text[n:]


_indexes: dict[str, VocabIndex] = {}
_lock = threading.Lock()


def vocab_index(key: str, build: Callable[[], Sequence[bytes]]) -> VocabIndex:
    """The index for the model ``key`` (its file): built once per process (about 0.6 s for 150,000 tokens)."""
    with _lock:
        index = _indexes.get(key)
        if index is None:
            index = _indexes[key] = VocabIndex(build())
        return index
