"""What typing through the shown suggestion leaves, and when a text written on may replace it (pure functions)."""

from __future__ import annotations

from srag_lsp.completion.shown import Shown, replaces_held, rest_after_typing


def test_typed_characters_that_start_the_shown_text_leave_its_rest() -> None:
    shown = Shown(3, "    x = ", "total(prices)")
    assert rest_after_typing(shown, 3, "    x = tot") == "al(prices)"


def test_other_characters_another_line_or_the_whole_text_leave_nothing() -> None:
    shown = Shown(3, "    x = ", "total(prices)")
    assert rest_after_typing(shown, 3, "    x = tx") is None
    assert rest_after_typing(shown, 4, "    x = tot") is None
    assert rest_after_typing(shown, 3, "    x = total(prices)") is None
    assert rest_after_typing(shown, 3, "    x = ") is None  # nothing typed
    assert rest_after_typing(None, 3, "    x = t") is None


def test_a_text_written_on_replaces_the_held_one_once_it_writes_past_it() -> None:
    assert not replaces_held("um(pri", "um(", done=False)  # shorter: the screen keeps the longer text
    assert not replaces_held("um(pri", "um(pri", done=False)
    assert replaces_held("um(pri", "um(pric", done=False)
    assert not replaces_held("um(pri", "um(pri", done=True)  # the same text, ended: nothing new to show
    assert not replaces_held("um(pri", "um(", done=True)
    assert replaces_held("um(pri", "ul", done=True)  # ended another way: the model's answer here
    assert not replaces_held("um(pri", "  ", done=True)
