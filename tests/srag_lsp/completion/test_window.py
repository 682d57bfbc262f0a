"""The local window: an anchored prefix that keeps the prompt's start while the user types on, a short suffix."""

from __future__ import annotations

from srag_lsp.completion.window import anchor_for, local_window

FILE = "\n".join(f"line_{i} = {i}" for i in range(200))


def test_the_anchor_moves_in_steps_of_half_the_window() -> None:
    anchors = {anchor_for(line, 60) for line in range(100, 130)}
    assert anchors == {60, 90} or len(anchors) <= 2
    assert anchor_for(10, 60) == 0
    for line in range(0, 200):
        start = anchor_for(line, 60)
        assert line - 60 <= start <= line and (line - start) >= min(line, 31)


def test_pressing_enter_keeps_the_prompt_start() -> None:
    a = local_window(FILE, 110, 5, 60, 0)
    b = local_window(FILE, 111, 0, 60, 0)
    assert a.anchor_line == b.anchor_line
    assert b.prefix.startswith(a.prefix[: a.prefix.rindex("\n")])


def test_the_suffix_is_the_rest_of_the_line_unless_asked_for_more() -> None:
    text = "def f(x):\n    return g(x, y)\n\nprint(f(1))\n"
    w = local_window(text, 1, 14, 60, 0)
    assert w.prefix == "def f(x):\n    return g(x"
    assert w.suffix == ", y)" and w.tail.startswith(", y)\n\nprint(f(1))")
    assert local_window(text, 1, 14, 60, 2).suffix == ", y)\n\nprint(f(1))"


def test_a_cursor_in_the_indentation_leaves_it_out_of_the_prompt() -> None:
    text = "def f(x):\n        \n"
    w = local_window(text, 1, 8, 60, 0)
    assert w.prefix == "def f(x):\n" and w.line_prefix == " " * 8


def test_positions_past_the_end_are_clamped() -> None:
    w = local_window("a = 1\nb = 2", 99, 99, 60, 0)
    assert w.prefix.endswith("b = 2") and w.suffix == ""
