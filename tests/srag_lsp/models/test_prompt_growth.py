"""Growing a prompt in front of what the KV cache holds: the plan (token lists, no model) and, with the real model,
the cache it leaves (held tokens, positions that later decodes accept, the work it saves)."""

from __future__ import annotations

import threading

import pytest

from srag_lsp.models import llama_kv, prompt_growth
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.models.prompt_growth import MIN_CHUNK, REFRESH_TOKENS, plan
from tests.support.streams import collect

NL = 0  # in the planning tests token 0 is a newline and token 5 an indentation; the others are words
IND = 5


def piece(token: int) -> bytes:
    return {NL: b"\n", IND: b"    "}.get(token, b"word")


def line(start: int, size: int = 4) -> list[int]:
    """A line of ``size`` tokens (distinct ids from ``start``), its newline last."""
    return [*range(start, start + size - 1), NL]


HEAD = [900, 901]  # the prompt's start, the same in both prompts
EARLY = line(10) + line(20) + line(30)  # the whole window's first lines, which the short window lacks
LATE = line(40) + line(50) + line(60) + line(70)  # the short window (16 tokens)
TAIL = [800, 801, 802]


def test_the_held_run_found_further_on_is_kept_and_the_nearest_whole_lines_go_in_front() -> None:
    held = [*HEAD, *LATE, *TAIL, 555, 556]  # the short window's prompt and what was generated after it
    whole = [*HEAD, *EARLY, *LATE, 803, *TAIL]
    growth = plan(held, whole, budget=9, piece=piece)
    assert growth is not None
    assert growth.at == len(HEAD) and growth.drop == 0 and growth.kept == len(LATE)
    assert growth.insert == line(20) + line(30)  # two whole lines fit 9 tokens; the nearest ones
    assert growth.left_out == 4
    assert growth.prompt(whole) == [*HEAD, *line(20), *line(30), *LATE, 803, *TAIL]


def test_what_fits_the_budget_goes_in_whole() -> None:
    held = [*HEAD, *LATE]
    whole = [*HEAD, *EARLY, *LATE, *TAIL]
    growth = plan(held, whole, budget=64, piece=piece)
    assert growth is not None and growth.insert == EARLY and growth.left_out == 0
    assert growth.prompt(whole) == whole


def test_a_step_never_exceeds_its_budget() -> None:
    long_line = line(100, 12)
    held = [*HEAD, *LATE]
    whole = [*HEAD, *line(10), *long_line, *LATE]
    growth = plan(held, whole, budget=5, piece=piece)
    assert growth is not None and growth.insert == long_line[-5:] and growth.left_out == 4 + 7  # the line's end
    none_now = plan(held, whole, budget=0, piece=piece)
    assert none_now is not None and none_now.insert == [] and none_now.left_out == 16
    assert none_now.prompt(whole) == [*HEAD, *LATE]  # the held run is kept; what is missing waits


def test_nothing_is_planned_when_the_held_tokens_do_not_reappear() -> None:
    held = [*HEAD, *LATE]
    assert plan(held, [*HEAD, *EARLY, *TAIL], budget=64, piece=piece) is None
    assert plan(held, [*HEAD, *LATE, *TAIL], budget=64, piece=piece) is None  # the same prompt: no gap
    short = [*HEAD, *LATE[: MIN_CHUNK - 1]]
    assert plan(short, [*HEAD, *EARLY, *LATE], budget=64, piece=piece) is None  # too little to keep


def test_a_token_merged_differently_at_the_joint_is_dropped() -> None:
    held = [*HEAD, 777, *LATE]  # e.g. "\n" alone where the whole window has it merged into "\n\n"
    whole = [*HEAD, *EARLY, *LATE]
    growth = plan(held, whole, budget=64, piece=piece)
    assert growth is not None and growth.drop == 1 and growth.kept == len(LATE) and growth.insert == EARLY


def test_indentation_shared_at_the_joint_goes_with_the_kept_run() -> None:
    first = [IND, *line(10)]  # the whole window's first line and the short window's share their indentation token
    late = [IND, *line(40), IND, *line(50), IND, *line(60)]
    held = [*HEAD, *late]
    whole = [*HEAD, *first, *late]
    growth = plan(held, whole, budget=64, piece=piece)
    assert growth is not None and growth.at == len(HEAD) and growth.insert == first and growth.kept == len(late)


def windows(path: str, head: str, early: str, late: str) -> tuple[str, str]:
    """A draft prompt with only the ``late`` lines (a cold place's short window) and with all of them."""
    start = f"<|repo_name|>growth\n<|file_sep|>{path}\n<|fim_prefix|>{head}"
    return f"{start}{late}    <|fim_suffix|><|fim_middle|>", f"{start}{early}{late}    <|fim_suffix|><|fim_middle|>"


async def short_window_held(qwen: EmbeddedBackend, path: str, head: str, early: str, late: str,
                            max_tokens: int = 2) -> str:
    """The whole window's prompt (eight ``early`` lines, numbered by ``{i}``, before ``late``), after a request
    with only its ``late`` lines: a cold place's short window, held in the cache."""
    short, whole = windows(path, head, "".join(early.format(i=i) for i in range(8)), late)
    await collect(qwen, GenerationRequest(short, max_tokens=max_tokens), GenerationStats())
    return whole


@pytest.mark.model
async def test_a_short_window_grows_to_the_whole_one_without_evaluating_it_again(qwen: EmbeddedBackend) -> None:
    late = "    result = []\n    for item in items:\n        result.append(item * 2)\n"
    whole = await short_window_held(qwen, "growth.py", "def process(items, factor):\n",
                                    "    total_{i} = compute_value({i}, scale=factor)\n", late, max_tokens=4)
    assert qwen.shifted_chars(whole) >= len(late)
    whole_tokens = qwen.tokenize(whole)
    steps = []
    for _ in range(12):
        stats = GenerationStats()
        text = await collect(qwen, GenerationRequest(whole, max_tokens=4, grow_tokens=16), stats)
        assert text.strip()
        steps.append(stats)
        assert qwen._slot is not None
        if stats.prompt_tokens == len(whole_tokens):
            break
    grown = steps[-1]
    assert grown.prompt_tokens == len(whole_tokens), "the window reached its whole size"
    assert len(steps) > 2, "a line or so at a time"
    assert all(s.prompt_evaluated <= 16 + 24 for s in steps), [s.prompt_evaluated for s in steps]
    assert list(llama_kv.held_tokens(qwen._slot.llm))[: len(whole_tokens) - 1] == whole_tokens[:-1]
    assert qwen.shifted_chars(whole) == 0 and qwen.cached_share(whole) == 1.0
    again = GenerationStats()
    await collect(qwen, GenerationRequest(whole, max_tokens=4, grow_tokens=16), again)
    assert again.prompt_evaluated == 1  # typing on from here is the usual prefix reuse
    # An insertion is not a re-evaluation: the cache then holds the same ids, but its early positions were computed
    # without what came before them; a plain request evaluates only what differs from the held ids.
    plain = GenerationStats()
    await collect(qwen, GenerationRequest(whole, max_tokens=2), plain)
    assert plain.prompt_evaluated == 1


@pytest.mark.model
async def test_a_warm_up_goes_on_growing_instead_of_evaluating_the_window_again(qwen: EmbeddedBackend) -> None:
    late = "    layers = []\n    for weight in weights:\n        layers.append(Layer(weight))\n"
    whole = await short_window_held(qwen, "warm.py", "def build(weights):\n",
                                    "    weight_{i} = load_weight({i}, kind='dense')\n", late)
    evaluated = await qwen.prefill(whole, num_ctx=4096, max_tokens=64, grow_tokens=16)
    whole_tokens = qwen.tokenize(whole)
    assert qwen.cached_share(whole) == 1.0 and qwen.shifted_chars(whole) == 0
    assert evaluated < len(whole_tokens) - len(qwen.tokenize(late)) // 2  # the short window's lines were kept
    assert qwen._slot is not None
    assert list(llama_kv.held_tokens(qwen._slot.llm)) == whole_tokens[:-1]  # the last one waits for a generation


@pytest.mark.model
async def test_a_prompt_grown_whole_has_its_last_tokens_evaluated_again(qwen: EmbeddedBackend) -> None:
    # The held tokens were computed without what went in front of them: the last of them are evaluated again, so
    # that what the model reads last sees the inserted part (REFRESH_TOKENS).
    late = "    rows = []\n    for record in records:\n        rows.append(render(record, width=80))\n"
    whole = await short_window_held(qwen, "refresh.py", "def table(records):\n",
                                    "    column_{i} = measure_column({i}, padding=2)\n", late)
    assert qwen._slot is not None
    tokens = qwen.tokenize(whole)
    with qwen._slot.lock:
        now, _text, inserted = prompt_growth.grow(qwen._slot, tokens, whole, 4096, threading.Event(), 32)
    assert now == tokens and inserted > 0
    held = list(llama_kv.held_tokens(qwen._slot.llm))
    assert held == tokens[: len(held)] and whole.startswith(qwen._slot.held_prompt)
    evaluated = await qwen.prefill(whole, num_ctx=4096, max_tokens=64)
    assert evaluated >= REFRESH_TOKENS - 1  # all but the prompt's last token, which waits for a generation
    assert list(llama_kv.held_tokens(qwen._slot.llm)) == tokens[:-1]
