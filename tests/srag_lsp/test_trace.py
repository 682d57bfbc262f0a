"""Traces: JSON lines on disk, rotation, percentiles, malformed lines skipped."""

from __future__ import annotations

import json
from pathlib import Path

from srag_lsp import trace as trace_mod
from srag_lsp.trace import RequestTrace, Tracer, format_summary, load_traces, percentile, summarize


def make(i: int) -> RequestTrace:
    t = RequestTrace(f"s{i}", "file:///a.py", 1, 2, 3, "streaming")
    t.events.update({"first_visible": float(i), "done": float(10 * i)})
    t.numbers.update({"prompt_tokens": 100.0, "prompt_evaluated": 10.0})
    t.flags["refined"] = i % 2 == 0
    return t


def test_traces_written_and_summarised(tmp_path: Path) -> None:
    tracer = Tracer(tmp_path / "traces")
    for i in range(1, 11):
        tracer.finish(make(i))
    records = load_traces(tmp_path / "traces" / "trace.jsonl")
    assert len(records) == 10 and records[0]["id"] == "s1"
    summary = summarize(records)
    assert summary["requests"] == 10
    assert summary["first_visible"]["p50"] == 5.5
    assert summary["done"]["p95"] == round(percentile([10.0 * i for i in range(1, 11)], 0.95), 2)
    assert summary["prompt_reuse"] == 0.9
    assert summary["refined"] == 5
    assert "first_visible" in format_summary(summary)


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(json.dumps(make(1).to_json()) + "\n{not json\n" + json.dumps(make(2).to_json()) + "\n")
    assert [r["id"] for r in load_traces(path)] == ["s1", "s2"]


def test_rotation_keeps_a_bounded_number_of_files(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(trace_mod, "MAX_TRACE_BYTES", 2000)
    tracer = Tracer(tmp_path)
    for i in range(200):
        tracer.finish(make(i))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "trace.jsonl" in files and "trace.jsonl.1" in files
    assert len(files) <= trace_mod.KEEP_ROTATIONS + 1


def test_unwritable_folder_keeps_traces_in_memory(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    tracer = Tracer(blocker / "traces")
    tracer.finish(make(1))
    assert tracer.path is None and len(tracer.recent) == 1
