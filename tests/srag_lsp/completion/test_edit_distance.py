"""Levenshtein distance (srag_lsp/completion/edit_distance.py): a pure function, no model."""

from __future__ import annotations

from srag_lsp.completion.edit_distance import edit_distance


def test_edit_distance() -> None:
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    assert edit_distance("abc", "") == 3 and edit_distance("same", "same") == 0
