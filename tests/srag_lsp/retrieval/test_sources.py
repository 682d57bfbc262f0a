"""Each retrieval source on its own, over the sample workspace indexed with the real builder."""

from __future__ import annotations

from pathlib import Path

import pytest

from indexer.query import IndexReader
from srag_lsp.retrieval.cursor import CursorAnalyzer
from srag_lsp.retrieval.sources import BufferSource, FtsSource, ImportsSource, SymbolSource, VectorSource, fts_query
from srag_lsp.retrieval.types import ContextChunk, CursorQuery
from srag_lsp.retrieval.workspace_modules import WorkspaceModules
from tests.srag_lsp.retrieval.sample_workspace import FILES


@pytest.fixture(scope="module")
def analyzer(indexed_workspace: tuple[Path, Path]) -> CursorAnalyzer:
    return CursorAnalyzer(WorkspaceModules(indexed_workspace[0]))


def cut_at(path: str, needle: str, typed: str = "") -> CursorQuery:
    """The file cut just before ``needle`` (a prefix-only buffer), with ``typed`` typed at the cursor."""
    text = FILES[path]
    prefix = text[: text.index(needle)] + typed
    lines = prefix.split("\n")
    return CursorQuery(path, prefix, len(lines) - 1, len(lines[-1]))


def names(chunks: list[ContextChunk]) -> list[str]:
    return [c.qualified_name or c.symbol for c in chunks]


def test_symbol_members_of_known_classes_and_the_partial(reader: IndexReader, analyzer: CursorAnalyzer):
    ctx = cut_at("shop/api.py", "        if coupon:", "        self.order.to")
    analysis = analyzer.analyze(ctx)
    chunks = SymbolSource(lambda: reader).run(analysis, ctx, 8)
    assert names(chunks)[0] == "Order.total"
    assert chunks[0].path == "shop/models.py" and chunks[0].source == "symbol"
    assert "def total(self) -> float:" in chunks[0].text


def test_symbol_follows_base_classes_for_inherited_members(reader: IndexReader, analyzer: CursorAnalyzer):
    ctx = cut_at("shop/api.py", "    checkout = Checkout(customer)", "    customer.save(\n    ")
    analysis = analyzer.analyze(ctx)
    assert "Customer.save" in analysis.members
    chunks = SymbolSource(lambda: reader).run(analysis, ctx, 8)
    hit = next(c for c in chunks if c.qualified_name == "Model.save")
    assert hit.path == "shop/base.py"


def test_symbol_finds_unimported_definitions_by_name(reader: IndexReader, analyzer: CursorAnalyzer):
    text = "def report(order):\n    value = slugify(order.customer.name)\n    return "
    ctx = CursorQuery("scripts/report.py", text, 2, len("    return "))
    chunks = SymbolSource(lambda: reader).run(analyzer.analyze(ctx), ctx, 8)
    assert names(chunks)[0] == "slugify"
    assert chunks[0].path == "shop/utils.py"


def test_imports_rank_by_what_the_line_expects(reader: IndexReader, analyzer: CursorAnalyzer):
    source = ImportsSource(lambda: reader)
    # `raise` wants an exception: OrderError, though nothing was used yet
    ctx = cut_at("shop/api.py", 'OrderError("an order', "")
    chunks = source.run(analyzer.analyze(ctx), ctx, 8)
    assert names(chunks)[0] == "OrderError" and chunks[0].path == "shop/models.py"
    # the words on the cursor line name what comes next: `coupon_value = ` wants apply_coupon
    ctx = cut_at("shop/api.py", "        return utils.format_money(total)", "        coupon_value = ")
    chunks = source.run(analyzer.analyze(ctx), ctx, 8)
    assert names(chunks)[0] == "apply_coupon" and chunks[0].path == "shop/pricing.py"
    assert {"Customer", "Order", "OrderError", "discount_for"} <= set(names(chunks))


def test_imports_after_a_module_name_list_its_members(reader: IndexReader, analyzer: CursorAnalyzer):
    ctx = cut_at("shop/api.py", "format_money(total)")
    analysis = analyzer.analyze(ctx)
    assert analysis.receiver == "utils"
    chunks = ImportsSource(lambda: reader).run(analysis, ctx, 8)
    # its functions, and the module-level code that binds `registry`, before anything else
    assert all(c.path == "shop/utils.py" for c in chunks[:3])
    assert {"format_money", "slugify"} <= set(names(chunks)[:3])
    assert any("registry = " in c.text for c in chunks[:3])
    ctx = cut_at("shop/api.py", "format_money(total)", "sl")
    chunks = ImportsSource(lambda: reader).run(analyzer.analyze(ctx), ctx, 8)
    assert names(chunks)[0] == "slugify"


def test_imports_follow_reexports_and_plain_assignments(reader: IndexReader, analyzer: CursorAnalyzer):
    text = "from shop import Order\nfrom shop.utils import registry\n\n\ndef make():\n    return "
    ctx = CursorQuery("scripts/make.py", text, 5, len("    return "))
    analysis = analyzer.analyze(ctx)
    assert analysis.import_for("Order").paths == ("shop/__init__.py",)
    source = ImportsSource(lambda: reader)
    first = {c.path: c for c in source.run(analysis, ctx, 8)}
    assert first["shop/models.py"].symbol == "Order"  # through the package's re-export
    # `registry` is no symbol: the module is read in the background, and the next request has it
    assert "shop/utils.py" not in first
    assert source.drain()
    again = {c.path: c for c in source.run(analysis, ctx, 8)}
    assert 'registry = {"default": "EUR"}' in again["shop/utils.py"].text
    source.close()


def test_fts_matches_the_words_before_the_cursor(reader: IndexReader, analyzer: CursorAnalyzer):
    text = "def fee(order):\n    rate = coupon_rate(order)\n    coupons = load_coupons()\n    "
    ctx = CursorQuery("scripts/fee.py", text, 3, 4)
    analysis = analyzer.analyze(ctx)
    assert "coupon_rate" in fts_query(analysis) and "def" not in fts_query(analysis).split()
    chunks = FtsSource(lambda: reader).run(analysis, ctx, 5)
    assert "apply_coupon" in names(chunks)
    assert all(c.source == "fts" for c in chunks)


def test_buffers_find_unsaved_definitions(analyzer: CursorAnalyzer):
    draft = "def loyalty_bonus(order) -> float:\n    return 0.01 * len(order.lines)\n"
    text = "from .draft import loyalty_bonus\n\n\ndef bonus(order):\n    return loyalty_bonus(order) + "
    ctx = CursorQuery("shop/bonus.py", text, 4, len("    return loyalty_bonus(order) + "))
    source = BufferSource(lambda: {"shop/draft.py": draft, "shop/blob.bin": "\x00\x01binary"})
    chunks = source.run(analyzer.analyze(ctx), ctx, 5)
    assert chunks[0].symbol == "loyalty_bonus" and chunks[0].path == "shop/draft.py"
    assert chunks[0].source == "buffers"


def test_sources_without_an_index_return_nothing(analyzer: CursorAnalyzer):
    ctx = cut_at("shop/api.py", "format_money(total)")
    analysis = analyzer.analyze(ctx)
    for source in (SymbolSource(lambda: None), ImportsSource(lambda: None), FtsSource(lambda: None)):
        assert not source.available()
        assert source.run(analysis, ctx, 5) == []


class _FixedEmbedder:
    model_id = "test:fixed"

    def embed_query(self, text: str) -> list[float]:
        return [0.0] * 8


def test_vector_source_is_skipped_without_vectors(reader: IndexReader):
    assert not VectorSource(lambda: reader, embed=None).available()
    assert not VectorSource(lambda: reader, embed=_FixedEmbedder()).available()  # this index has no vectors


def test_typescript_imports_and_members(reader: IndexReader, analyzer: CursorAnalyzer):
    text = FILES["web/app.ts"].replace("  return formatMoney(cart.total());\n}\n", "  return cart.to")
    lines = text.split("\n")
    ctx = CursorQuery("web/app.ts", text, len(lines) - 1, len(lines[-1]))
    analysis = analyzer.analyze(ctx)
    chunks = SymbolSource(lambda: reader).run(analysis, ctx, 5)
    assert chunks[0].qualified_name == "Cart.total" and chunks[0].path == "web/money.ts"
    chunks = ImportsSource(lambda: reader).run(analysis, ctx, 5)
    assert {"formatMoney", "Cart"} <= set(names(chunks))
