"""Fusion: weighted reciprocal rank fusion, de-duplication, and dropping what the prompt already shows."""

from __future__ import annotations

from srag_lsp.retrieval.fusion import VisibleRange, duplicates, fuse
from srag_lsp.retrieval.types import ContextChunk


def chunk(
    id_: str,
    path: str = "a.py",
    start: int = 1,
    end: int = 5,
    kind: str = "function",
    symbol: str = "",
    qualified: str = "",
) -> ContextChunk:
    return ContextChunk(
        path,
        start,
        end,
        symbol or id_,
        kind,
        "",
        0.0,
        f"def {id_}(): ...",
        f"def {id_}():",
        id_,
        qualified_name=qualified or symbol or id_,
        language="python",
    )


def test_agreement_between_sources_beats_a_single_top_rank():
    ranked = {
        "symbol": [chunk("solo", "x.py", 1, 3), chunk("both", "y.py", 1, 3)],
        "fts": [chunk("other", "z.py", 1, 3), chunk("both", "y.py", 1, 3)],
    }
    fused = fuse(ranked, weights={"symbol": 1.0, "fts": 1.0})
    assert [c.id for c in fused] == ["both", "solo", "other"]
    assert fused[0].sources == ("symbol", "fts")
    assert fused[0].score > fused[1].score == fused[2].score  # ties broken by path


def test_weights_decide_between_sources():
    ranked = {"symbol": [chunk("s", "s.py")], "fts": [chunk("f", "f.py")]}
    assert [c.id for c in fuse(ranked, weights={"symbol": 1.0, "fts": 0.5})] == ["s", "f"]
    assert [c.id for c in fuse(ranked, weights={"symbol": 0.5, "fts": 1.0})] == ["f", "s"]


def test_source_is_the_one_that_ranked_it_best():
    ranked = {
        "fts": [chunk("x", "x.py")],
        "symbol": [chunk("a", "a.py"), chunk("b", "b.py"), chunk("x", "x.py")],
    }
    fused = {c.id: c for c in fuse(ranked, weights={"symbol": 1.0, "fts": 1.0})}
    assert fused["x"].source == "fts"
    assert set(fused["x"].sources) == {"fts", "symbol"}


def test_same_id_or_overlapping_range_is_one_chunk():
    ranked = {
        "symbol": [chunk("idx", "m.py", 10, 20, symbol="f", qualified="f")],
        "buffers": [chunk("buf", "m.py", 12, 22, symbol="f", qualified="f"), chunk("idx", "m.py", 10, 20)],
    }
    fused = fuse(ranked)
    assert len(fused) == 1
    assert fused[0].id == "idx"
    assert set(fused[0].sources) == {"symbol", "buffers"}


def test_class_summary_and_its_method_both_stay():
    summary = chunk("cls", "m.py", 1, 100, kind="class", symbol="Session")
    method = chunk("meth", "m.py", 40, 60, kind="method", symbol="send", qualified="Session.send")
    assert not duplicates(summary, method)
    fused = fuse({"symbol": [summary, method]})
    assert [c.id for c in fused] == ["cls", "meth"]


def test_chunks_the_prompt_already_shows_are_dropped():
    visible = VisibleRange("cur.py", start_line=40, end_line=70, cursor_line=60)
    ranked = {
        "symbol": [
            chunk("around-cursor", "cur.py", 1, 200),  # the chunk the cursor is in, even if it is long
            chunk("in-window", "cur.py", 45, 50),
            chunk("same-file-far", "cur.py", 300, 310),
            chunk("other-file", "other.py", 45, 50),
        ]
    }
    assert [c.id for c in fuse(ranked, visible=visible)] == ["same-file-far", "other-file"]


def test_limit_and_duplicate_ids_within_one_source():
    ranked = {"symbol": [chunk("a", "a.py"), chunk("a", "a.py"), chunk("b", "b.py"), chunk("c", "c.py")]}
    fused = fuse(ranked, limit=2)
    assert [c.id for c in fused] == ["a", "b"]


def test_empty_input():
    assert fuse({}) == []
    assert fuse({"symbol": []}) == []
