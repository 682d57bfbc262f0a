"""The retriever over the real index: updates as sources land, deadlines, failures, the cache, lookups."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.query import IndexReader
from srag_lsp.retrieval.budget import total_tokens
from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.sources import FtsSource, ImportsSource, SymbolSource
from srag_lsp.retrieval.types import ContextChunk, CursorQuery
from tests.srag_lsp.retrieval.sample_workspace import FILES

DRAFT = "def loyalty_bonus(order) -> float:\n    return 0.01 * len(order.lines)\n"


def cut_at(path: str, needle: str, typed: str = "") -> CursorQuery:
    text = FILES[path]
    prefix = text[: text.index(needle)] + typed
    lines = prefix.split("\n")
    return CursorQuery(path, prefix, len(lines) - 1, len(lines[-1]))


@pytest.fixture
def retriever(indexed_workspace: tuple[Path, Path]) -> Iterator[Retriever]:
    root, index_dir = indexed_workspace
    opened = Retriever(root, index_dir=str(index_dir), buffers=lambda: {"shop/draft.py": DRAFT})
    yield opened
    opened.close()


class SlowSource:
    """Fault injection: wraps a real source and sleeps before answering (records when it ran)."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.delay_s = delay_s
        self.started = threading.Event()
        self.finished = threading.Event()
        self.span: tuple[float, float] = (0.0, 0.0)

    def available(self) -> bool:
        return True

    def cache_key(self, analysis):
        return None

    def run(self, analysis, ctx, k):
        begin = time.monotonic()
        self.started.set()
        time.sleep(self.delay_s)
        result = self.inner.run(analysis, ctx, k)
        self.span = (begin, time.monotonic())
        self.finished.set()
        return result


class BrokenSource:
    """Fault injection: a source whose index read raises."""

    name = "fts"

    def available(self) -> bool:
        return True

    def cache_key(self, analysis):
        return None

    def run(self, analysis, ctx, k):
        raise RuntimeError("the index went away")


async def test_stream_delivers_each_source_as_it_lands(retriever: Retriever):
    ctx = cut_at("shop/api.py", 'OrderError("an order')
    updates = [u async for u in retriever.stream(ctx, deadline_ms=10_000, budget_tokens=600)]
    assert sorted(u.source for u in updates) == ["buffers", "fts", "imports", "symbol"]
    assert [u.final for u in updates] == [False, False, False, True]
    for i, update in enumerate(updates, start=1):
        assert len(update.ms_by_source) == i  # each update carries every source landed so far
        assert update.ms == update.ms_by_source[update.source] > 0
    final = updates[-1].chunks
    assert final[0].symbol == "OrderError" and final[0].path == "shop/models.py"
    assert final[0].source == "imports" and "imports" in final[0].sources
    # the cursor's own chunk (place_order in api.py) is what the prompt already shows: not repeated
    assert not any(c.path == "shop/api.py" and c.symbol == "place_order" for c in final)
    assert len({c.id for c in final}) == len(final)


async def test_retrieve_collects_everything_with_times(retriever: Retriever):
    ctx = cut_at("shop/api.py", "format_money(total)", "sl")
    result = await retriever.retrieve(ctx, deadline_ms=10_000, budget_tokens=600)
    assert result.chunks[0].symbol == "slugify"
    assert set(result.ms) == {"symbol", "imports", "fts", "buffers"}
    assert result.dropped == []
    assert result.total_ms >= max(result.ms.values())


async def test_deadline_drops_a_slow_source_and_does_not_wait(indexed_workspace: tuple[Path, Path]):
    """Fault injection: the full-text source is delayed by 3 s; the deadline is 300 ms."""
    root, index_dir = indexed_workspace
    reader = IndexReader.open(index_dir)
    slow = SlowSource(FtsSource(lambda: reader), delay_s=3.0)
    retriever = Retriever(
        root, reader=reader, sources=[SymbolSource(lambda: reader), ImportsSource(lambda: reader), slow]
    )
    try:
        ctx = cut_at("shop/api.py", 'OrderError("an order')
        updates = [u async for u in retriever.stream(ctx, deadline_ms=300)]
        assert slow.started.is_set() and not slow.finished.is_set()  # dropped, not waited for
        assert updates[-1].final and updates[-1].source == "deadline"
        assert updates[-1].dropped == ["fts"] and "fts" not in updates[-1].ms_by_source
        assert updates[-1].chunks and updates[-1].chunks[0].symbol == "OrderError"
        result = await retriever.retrieve(ctx, deadline_ms=300)
        assert result.dropped == ["fts"] and set(result.ms) == {"symbol", "imports"}
    finally:
        retriever.close()


async def test_a_source_over_its_own_budget_is_dropped_alone(indexed_workspace: tuple[Path, Path]):
    """Fault injection: the symbol source is delayed by 2 s and has a 100 ms budget; the deadline is 10 s."""
    root, index_dir = indexed_workspace
    reader = IndexReader.open(index_dir)
    slow = SlowSource(SymbolSource(lambda: reader), delay_s=2.0)
    retriever = Retriever(
        root,
        reader=reader,
        sources=[slow, ImportsSource(lambda: reader), FtsSource(lambda: reader)],
        source_budget_ms={"symbol": 100},
    )
    try:
        updates = [u async for u in retriever.stream(cut_at("shop/api.py", 'OrderError("an order'), deadline_ms=10_000)]
        assert [u.final for u in updates].count(True) == 1 and updates[-1].final
        assert updates[-1].dropped == ["symbol"]
        assert set(updates[-1].ms_by_source) == {"imports", "fts"}
        assert not slow.finished.is_set()
    finally:
        retriever.close()


async def test_a_failing_source_is_dropped_and_the_others_deliver(indexed_workspace: tuple[Path, Path]):
    """Fault injection: the full-text source raises."""
    root, index_dir = indexed_workspace
    reader = IndexReader.open(index_dir)
    retriever = Retriever(root, reader=reader, sources=[SymbolSource(lambda: reader), BrokenSource()])
    try:
        result = await retriever.retrieve(cut_at("shop/api.py", "format_money(total)", "sl"), deadline_ms=10_000)
        assert result.dropped == ["fts"]
        assert result.chunks[0].symbol == "slugify"
    finally:
        retriever.close()


async def test_the_event_loop_runs_while_sources_work(indexed_workspace: tuple[Path, Path]):
    """Fault injection: a source sleeping 0.3 s in its thread; the loop must keep running meanwhile."""
    root, index_dir = indexed_workspace
    reader = IndexReader.open(index_dir)
    slow = SlowSource(SymbolSource(lambda: reader), delay_s=0.3)
    retriever = Retriever(root, reader=reader, sources=[slow])
    ticks: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            ticks.append(time.monotonic())
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    try:
        result = await retriever.retrieve(cut_at("shop/api.py", "format_money(total)", "sl"), deadline_ms=10_000)
    finally:
        stop.set()
        await task
        retriever.close()
    assert result.dropped == []
    begin, end = slow.span
    assert any(begin < t < end for t in ticks)


async def test_cache_serves_repeats_until_invalidated(retriever: Retriever):
    ctx = cut_at("shop/api.py", 'OrderError("an order')
    first = await retriever.retrieve(ctx, deadline_ms=10_000)
    assert not first.cached
    updates = [u async for u in retriever.stream(ctx, deadline_ms=10_000)]
    assert updates[0].source == "cache" and updates[0].cached
    assert {"symbol", "imports", "fts"} <= set(updates[0].ms_by_source)
    assert [c.id for c in updates[-1].chunks] == [c.id for c in first.chunks]
    # a path nothing here depends on changes nothing
    retriever.invalidate(["web/money.ts"])
    again = [u async for u in retriever.stream(ctx, deadline_ms=10_000)]
    assert again[0].source == "cache"
    # models.py was re-indexed: results that hold its chunks must be looked up again
    retriever.invalidate(["shop/models.py"])
    fresh = [u async for u in retriever.stream(ctx, deadline_ms=10_000)]
    served_from_cache = set(fresh[0].ms_by_source) if fresh[0].source == "cache" else set()
    assert not {"symbol", "imports"} & served_from_cache
    assert fresh[-1].chunks[0].symbol == "OrderError"


async def test_cached_gives_the_last_result_of_the_scope_without_io(retriever: Retriever):
    ctx = cut_at("shop/api.py", "format_money(total)", "sl")
    assert retriever.cached(ctx) is None
    result = await retriever.retrieve(ctx, deadline_ms=10_000)
    again = retriever.cached(CursorQuery(ctx.path, ctx.text, ctx.line, ctx.col - 1))
    assert again is not None and [c.id for c in again] == [c.id for c in result.chunks]


async def test_lookup_names_exact_then_prefix(retriever: Retriever):
    found = await retriever.lookup_names(["apply_coupon", "format_mon", "Order.total", "no_such_name_here"])
    assert [c.path for c in found["apply_coupon"]] == ["shop/pricing.py"]
    assert found["format_mon"][0].symbol == "format_money"
    assert found["Order.total"][0].qualified_name == "Order.total"
    assert found["no_such_name_here"] == []


async def test_budget_is_respected_and_prefers_signatures(retriever: Retriever):
    ctx = cut_at("shop/api.py", 'OrderError("an order')
    result = await retriever.retrieve(ctx, deadline_ms=10_000, budget_tokens=120)
    assert result.chunks and total_tokens(result.chunks) <= 120
    assert any(c.compact for c in result.chunks)


async def test_unsaved_buffers_are_searched(retriever: Retriever):
    text = "from .draft import loyalty_bonus\n\n\ndef bonus(order):\n    return loyalty_bonus(order) + "
    ctx = CursorQuery("shop/bonus.py", text, 4, len("    return loyalty_bonus(order) + "))
    result = await retriever.retrieve(ctx, deadline_ms=10_000)
    hit = next(c for c in result.chunks if c.symbol == "loyalty_bonus")
    assert hit.path == "shop/draft.py" and "buffers" in hit.sources


async def test_without_an_index_only_buffers_answer(tmp_path: Path):
    retriever = Retriever(tmp_path, index_dir=str(tmp_path / "no-index"), buffers=lambda: {"a.py": DRAFT})
    try:
        ctx = CursorQuery("b.py", "x = loyalty_bonus(", 0, len("x = loyalty_bonus("))
        result = await retriever.retrieve(ctx, deadline_ms=10_000)
        assert set(result.ms) == {"buffers"} and result.dropped == []
        assert [c.symbol for c in result.chunks] == ["loyalty_bonus"]
    finally:
        retriever.close()


@pytest.mark.parametrize(
    "ctx",
    [
        CursorQuery("shop/api.py", FILES["shop/api.py"], 10_000, 10_000),  # past the end: clamped
        CursorQuery("shop/blob.py", "\x00\x01\x02binary\x00", 0, 3),
        CursorQuery("shop/huge.py", "x = 1\n" * 200_000, 100_000, 2),
        CursorQuery("shop/bad.py", "def broken(:\n  return ((", 1, 5),
        CursorQuery("shop/odd.py", "naïve = 'ünïcode' \udcff\n", 0, 5),
    ],
    ids=["past-end", "binary", "huge", "syntax-error", "odd-unicode"],
)
async def test_bad_input_never_raises(retriever: Retriever, ctx: CursorQuery):
    result = await retriever.retrieve(ctx, deadline_ms=10_000)
    assert isinstance(result.chunks, list)
    assert all(isinstance(c, ContextChunk) for c in result.chunks)


async def test_prepare_document_parses_and_looks_up_imports_ahead(retriever: Retriever):
    text = FILES["shop/api.py"]
    await asyncio.wrap_future(retriever.prepare_document("shop/api.py", text))
    assert retriever.settle()
    assert "shop/api.py" in retriever.analyzer.trees
    imports = next(s for s in retriever.sources if s.name == "imports")
    analysis = retriever.analyzer.analyze(CursorQuery("shop/api.py", text, 0, 0))
    definitions = imports._imported_definitions(None, analysis, imports._by_name(analysis)[1])  # memo: no reader
    assert {"Customer", "Order", "OrderError", "apply_coupon", "discount_for"} <= set(definitions)
