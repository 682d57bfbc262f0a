"""Token healing's split of the cursor's prefix: which unit leaves the prompt, and when nothing does."""

from __future__ import annotations

import pytest

from srag_lsp.prompts.partial_token import MAX_PARTIAL_CHARS, split_partial_token


@pytest.mark.parametrize(
    ("prefix", "kept", "unit"),
    [
        ("def f():\n    ret", "def f():\n   ", " ret"),  # the line's first name: one space goes with it
        ("def f():\n\tret", "def f():\n", "\tret"),
        ("x = 1\nre", "x = 1\n", "re"),
        ("    x = fo", "    x =", " fo"),  # a name after code: the space goes with it, as BPE writes " foo"
        ("    x = ", "    x =", " "),  # a trailing space alone is a unit (the model writes " foo", not "foo")
        ("    self.ge", "    self", ".ge"),
        ("    call(", "    call", "("),
        ("    return a_b1", "    return", " a_b1"),
    ],
)
def test_the_last_unit_of_the_line_leaves_the_prefix(prefix: str, kept: str, unit: str) -> None:
    assert split_partial_token(prefix) == (kept, unit)
    assert kept + unit == prefix


@pytest.mark.parametrize("prefix", ["", "a = 1\n", "a = 1\n    ", "def f():\n\t"])
def test_a_line_without_code_before_the_cursor_keeps_its_prefix(prefix: str) -> None:
    assert split_partial_token(prefix) == (prefix, "")


def test_a_name_longer_than_the_limit_stays_in_the_prompt() -> None:
    prefix = "x = 1\n    value = " + "n" * (MAX_PARTIAL_CHARS + 1)
    assert split_partial_token(prefix) == (prefix, "")
