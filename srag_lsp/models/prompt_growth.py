"""Grow a slot's prompt in place: keep what the KV cache holds where the new prompt has it further on, and insert
the missing part in front of it, a budget of whole lines at a time.

At a place the cache knows nothing of, the draft evaluates a short window (its last few lines: a few keystrokes'
time instead of a second). The next keystroke's prompt has the whole window, whose first lines come before what the
cache holds. Evaluated as a prompt, that would cost the whole window again; ``plan`` instead finds the held tokens
further on in the new prompt, and ``apply`` inserts up to ``budget`` tokens of what is missing in front of them
(the lines nearest the cursor first). The embedded backend plans with a budget of 0 before a key's generation (its
first text must not wait) and inserts a step once that text is out, so the window reaches its full size within a
few keys. What is not inserted yet is left out of the prompt (``Growth.prompt``). The same insertion puts retrieved
chunks in front of a cached draft window (``completion.draft_context``). Once a prompt has grown whole, the kept
run's last tokens are evaluated again (``REFRESH_TOKENS``): they were computed without what went in front of them.

``plan`` is pure (token lists in, a plan out); ``apply`` changes the cache (``llama_kv``); ``grow`` and ``grow_all``
do a step, or every step, on a slot and keep its ``held_prompt`` true.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from srag_lsp.models import llama_kv
from srag_lsp.models.llama_slots import Slot, common_token_prefix

MIN_CHUNK = 12  # held tokens that must reappear further on in the new prompt for the cache to be kept
MAX_DROP = 2  # held tokens after the common prefix that may be dropped (a newline the tokenizer merged differently)
# The kept run's last tokens, evaluated again once the prompt has grown whole. The kept tokens were computed
# without what was inserted in front of them: with retrieved chunks inserted in front of a 12-line window, greedy
# text scored 0.380 edit similarity against 0.489 for the prompt evaluated whole; its last 24 tokens evaluated
# again, 0.462 (40 cross-file cases of bench_quality's packages; 48 tokens: 0.437, within the noise).
REFRESH_TOKENS = 24


@dataclass(frozen=True, slots=True)
class Growth:
    at: int  # the common prefix of the held tokens and the new prompt: the insertion goes here
    drop: int  # held tokens dropped at ``at`` first
    kept: int  # held tokens after those that stay, moved on by ``len(insert)``
    insert: list[int]  # the tokens evaluated now, in front of the kept ones
    left_out: int  # tokens of the missing part (its first lines) that wait for a later request

    def prompt(self, tokens: Sequence[int]) -> list[int]:
        """The prompt this request evaluates: ``tokens`` less the part left out."""
        return [*tokens[: self.at], *tokens[self.at + self.left_out :]]


def _occurrences(tokens: Sequence[int], probe: Sequence[int], start: int) -> list[int]:
    first, size = probe[0], len(probe)
    probe = list(probe)
    return [i for i in range(start, len(tokens) - size + 1)
            if tokens[i] == first and list(tokens[i : i + size]) == probe]


def plan(held: Sequence[int], tokens: Sequence[int], budget: int, piece: Callable[[int], bytes]) -> Growth | None:
    """How to make the cache hold ``tokens`` by keeping a held run further on; None when there is no such run.

    ``piece(token)``: a token's text, so that insertions are whole lines. The common prefix is taken back over
    indentation at its end: the short window's first line and the whole window's may share their indentation
    token, which belongs in front of the kept run, not to the inserted lines.
    """
    held = [int(t) for t in held]
    tokens = [int(t) for t in tokens]
    at = common_token_prefix(held, tokens)
    while at > 0 and piece(tokens[at - 1]).strip(b" \t") == b"" and piece(tokens[at - 1]):
        at -= 1

    def ends_line(token: int) -> bool:
        return piece(token).endswith(b"\n")

    for drop in range(MAX_DROP + 1):
        probe = held[at + drop : at + drop + MIN_CHUNK]
        if len(probe) < MIN_CHUNK:
            return None
        found = _occurrences(tokens, probe, at if drop else at + 1)
        if found:
            break
    else:
        return None
    runs = {i: common_token_prefix(held[at + drop :], tokens[i:]) for i in found}
    i = max(runs, key=lambda j: runs[j])
    missing = tokens[at:i]
    start = aligned_start(missing, budget, ends_line)
    return Growth(at, drop, runs[i], missing[start:], start)


def aligned_start(missing: Sequence[int], budget: int, ends_line: Callable[[int], bool]) -> int:
    """Where the part of ``missing`` to insert now starts: the most whole lines from its end within ``budget``
    tokens, or the end of its last line when that alone is longer (a step never exceeds its budget); all of it when
    it fits; none of it for a budget of 0."""
    if budget <= 0:
        return len(missing)
    if len(missing) <= budget:
        return 0
    for s in range(len(missing) - budget, len(missing)):
        if ends_line(missing[s - 1]):
            return s
    return len(missing) - budget


def apply(llm: Any, growth: Growth, batch: int,
          steady: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext) -> bool:
    """Change the cache as ``growth`` says: what follows the kept run is forgotten, the dropped tokens removed, and
    the insertion evaluated in front of the kept run (``llama_kv.insert_tokens``). False when the cache could not
    keep the run (it was reset instead), or when tokens would be dropped with none inserted (their shift must be
    applied by a decode that nothing stops: the insertion's, inside ``steady()``): the prompt is then evaluated as
    usual."""
    if growth.drop and not growth.insert:
        return False
    end = growth.at + growth.drop + growth.kept
    if llama_kv.keep_prefix(llm, end) != end:
        return False
    llama_kv.remove_tokens(llm, growth.at, growth.at + growth.drop)
    if growth.insert:
        llama_kv.insert_tokens(llm, growth.at, growth.insert, batch, steady)
    return True


def grow(slot: Slot, tokens: list[int], prompt: str, budget: int, cancel: threading.Event,
         batch: int) -> tuple[list[int], str, int]:
    """On ``slot`` (its lock held): keep the cached part of ``tokens`` found further on and insert up to ``budget``
    tokens in front of it; the prompt to evaluate now, its text (``prompt`` when nothing is left out), and the
    tokens inserted. ``slot.held_prompt`` says what the cache holds at every step: the engine reads it from the
    event loop to decide a draft's window (``cold_place``)."""
    llm = slot.llm
    held = [int(t) for t in llama_kv.held_tokens(llm)]
    growth = plan(held, tokens, budget, lambda t: llama_kv.token_bytes(llm, t))
    if growth is None or cancel.is_set() or not (growth.insert or growth.drop or growth.left_out):
        return tokens, prompt, 0
    now = growth.prompt(tokens)
    text = prompt if not growth.left_out else llama_kv.text_of(llm, now)
    end = growth.at + growth.drop + growth.kept
    # While the insertion runs: the kept run right after the common prefix.
    slot.held_prompt = llama_kv.text_of(llm, [*held[: growth.at], *held[growth.at + growth.drop : end]])
    try:
        applied = apply(llm, growth, batch, slot.aborter.steady)
    except BaseException:
        slot.held_prompt = ""
        raise
    if not applied:
        slot.held_prompt = ""
        return tokens, prompt, 0
    held_end = growth.at + len(growth.insert) + growth.kept
    if growth.insert and not growth.left_out:
        # Grown whole: the kept run's last tokens are evaluated again (by whoever evaluates the prompt next), so
        # that what the model reads last sees the inserted part.
        held_end = llama_kv.keep_prefix(llm, max(growth.at + len(growth.insert), held_end - REFRESH_TOKENS))
    slot.held_prompt = llama_kv.text_of(llm, now[:held_end])
    return now, text, len(growth.insert)


def grow_all(slot: Slot, tokens: list[int], prompt: str, budget: int, cancel: threading.Event, batch: int) -> int:
    """A warm-up goes on growing a prompt in front of the cache (``budget`` tokens a step, a look at ``cancel``
    between steps) rather than evaluating it from the common prefix, which would drop the lines already held.
    Returns the tokens inserted."""
    inserted = 0
    while not cancel.is_set():
        now, _text, n = grow(slot, tokens, prompt, budget, cancel, batch)
        inserted += n
        if n == 0 or len(now) == len(tokens):
            break
    return inserted
