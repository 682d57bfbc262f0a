"""``benchmarks.place_context``: the engine's own context as a line is typed, on a real index of the example shop.

The model is the benchmark's silent fake (the figure is which chunks are pinned, not the model's words); the
index, the retriever and the engine are real.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from benchmarks.place_context import keys_for, place_context, summary
from benchmarks.retrieval_cases import Case, Definition
from srag_lsp.retrieval.index_access import build_index

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "shop"


def discount_case(root: Path) -> Case:
    """The use of ``apply_discount`` (defined in pricing.py) on checkout.py's `discounted = ` line."""
    text = (root / "checkout.py").read_text()
    line = text.split("\n").index("    discounted = ")
    before = "\n".join(text.split("\n")[:line]) + "\n    discounted = "
    pricing = (root / "pricing.py").read_text().split("\n")
    start = next(i for i, ln in enumerate(pricing) if ln.startswith("def apply_discount")) + 1
    return Case("shop", "checkout.py", line + 1, 18, "apply_discount", "name",
                Definition("pricing.py", "apply_discount", start, start + 2), before)


def test_the_keys_go_from_the_indentation_to_two_characters_into_the_name(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root)
    before, indent, typed = keys_for(discount_case(root))
    assert before.endswith("subtotal = cart.subtotal()\n") and indent == "    "
    assert typed[0] == "" and typed[-1] == "discounted = ap" and len(typed) == len("discounted = ap") + 1


def test_the_defining_chunk_is_pinned_two_characters_into_the_name(tmp_path: Path) -> None:
    root = tmp_path / "shop"
    shutil.copytree(EXAMPLE, root)
    index_dir = tmp_path / "index"
    assert build_index(root, str(index_dir)).errors == 0
    results = asyncio.run(place_context(root, index_dir, [discount_case(root)]))
    assert results[0].at_two_chars and results[0].pinned >= 1
    figures = summary(results)
    assert figures["cases"] == 1 and figures["at_two_chars"] == 1.0
