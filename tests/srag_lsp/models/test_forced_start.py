"""Token healing's constrained start over a small made-up vocabulary: which tokens are allowed, what is shown."""

from __future__ import annotations

import numpy as np

from srag_lsp.models.forced_start import ForcedStart, VocabIndex

# Ids 0 and 12 stand for control tokens: they have no text, so they are never allowed while text is forced.
VOCAB = [b"", b" ", b"  ", b"   ", b" r", b" re", b" return", b" ret", b"urn", b"x", b" x", b"\n", b""]


def names(ids: np.ndarray) -> set[bytes]:
    return {VOCAB[int(i)] for i in ids}


def test_allowed_tokens_start_with_what_is_left_or_are_a_start_of_it() -> None:
    index = VocabIndex(VOCAB)
    assert names(index.agreeing(b"    r")) == {b" ", b"  ", b"   "}
    assert names(index.agreeing(b" re")) == {b" ", b" r", b" re", b" return", b" ret"}
    assert names(index.agreeing(b"x")) == {b"x"}
    assert names(index.agreeing(b"q")) == set()


def test_the_mask_leaves_only_agreeing_tokens_and_control_tokens_never_pass() -> None:
    index = VocabIndex(VOCAB)
    forced = ForcedStart(" ret", index)
    logits = np.arange(len(VOCAB), dtype=np.float32)
    masked = forced(None, logits.copy())
    allowed = {VOCAB[i] for i in range(len(VOCAB)) if np.isfinite(masked[i])}
    assert allowed == {b" ", b" r", b" re", b" ret", b" return"}
    assert all(masked[i] == logits[i] for i in range(len(VOCAB)) if np.isfinite(masked[i]))


def test_consuming_tokens_shows_only_what_comes_after_the_forced_text() -> None:
    forced = ForcedStart("    ret", VocabIndex(VOCAB))
    assert forced.consume(b"   ") == b"" and forced.active
    assert forced.consume(b" return") == b"urn" and not forced.active
    logits = np.zeros(len(VOCAB), dtype=np.float32)
    assert forced(None, logits) is logits  # nothing left to force: the logits pass untouched
    assert forced.consume(b" x") == b" x"


def test_forcing_text_in_several_byte_characters() -> None:
    vocab = ["é".encode()[:1], "é".encode()[1:], "é".encode(), "éa".encode()]
    forced = ForcedStart("é", VocabIndex(vocab))
    assert {vocab[int(i)] for i in forced.index.agreeing(forced.left)} == set(vocab) - {"é".encode()[1:]}
    assert forced.consume("éa".encode()) == b"a"
