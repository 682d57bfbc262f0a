"""The refinement policy's pure helpers (srag_lsp/completion/policy.py): no model, no index."""

from __future__ import annotations

from srag_lsp.completion.policy import new_identifiers


def test_new_identifiers_are_the_names_the_buffer_does_not_contain() -> None:
    assert new_identifiers("total = apply_discount(subtotal, rate)", "subtotal = 1") == ["total", "apply_discount",
                                                                                          "rate"]


def test_new_identifiers_skip_strings_attributes_and_short_names() -> None:
    assert new_identifiers('xs = price.round("quantity")', "") == ["price"]
