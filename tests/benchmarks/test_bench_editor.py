"""The editor benchmark's short form: one package, two lines, our column and llama.vim's, through real Neovim.

It runs the real thing end to end (headless Neovim 0.11 with editors/nvim, the real daemon and model; llama.vim
against a real llama-server built by scripts/build_llama_server.sh, or taken from its cache) and checks only that
both sides ran, that keys were typed, and that the JSON is complete. It never asserts a figure.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks import bench_editor

FIELDS = ("on_screen_first16", "right_first16", "on_screen_line", "right_line", "visible_ms_p50", "visible_ms_p95",
          "final_es", "final_exact", "cpu_s_per_key")


def test_how_much_of_a_line_is_typed() -> None:
    assert bench_editor.typed_chars("x" * 28) == 21
    assert bench_editor.typed_chars("x" * 12) == 8  # at least 4 characters are left for the final look


def test_a_compared_column_names_its_settings() -> None:
    assert bench_editor.parse_compare(["d6:draftPrefixLines=6,strategy=local"]) == {
        "srag:d6": {"draftPrefixLines": 6, "strategy": "local"}}
    with pytest.raises(ValueError, match="LABEL:key=value"):
        bench_editor.parse_compare(["draftPrefixLines=6"])


@pytest.mark.model
@pytest.mark.e2e
@pytest.mark.timeout(2400)
def test_short_form_runs_both_sides_and_writes_complete_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llama_vim = bench_editor.DEFAULT_LLAMA_VIM
    if not (llama_vim / "autoload" / "llama.vim").exists():
        pytest.skip(f"llama.vim is not at {llama_vim} (the shared peers folder beside the clone)")
    monkeypatch.setattr("benchmarks.report.RESULTS", tmp_path / "results")
    status = bench_editor.main(["--packages", "rich==13.9.4", "--lines", "2", "--rest-ms", "0", "--cadence-ms", "200",
                                "--columns", "srag,llama.vim", "--work", str(tmp_path / "work"), "--name", "short"])
    assert status == 0
    report = json.loads((tmp_path / "results" / "short.json").read_text())
    assert (tmp_path / "results" / "short.png").stat().st_size > 0
    assert report["columns"] == ["srag", "llama.vim"]
    assert report["lines"] == 2
    assert list(report["results"]) == ["srag", "llama.vim"]
    for column in ("srag", "llama.vim"):
        (result,) = report["results"][column]  # one rest and cadence
        assert result["rest_ms"] == 0 and result["cadence_ms"] == 200
        assert result["keys"] == sum(bench_editor.typed_chars(c["body"]) for c in report["cases"])
        for name in FIELDS:
            assert isinstance(result[name], float), (column, name)
            assert not math.isnan(result[name]), (column, name)
        assert [p["n"] for p in result["per_key"]] == list(range(1, 17))
        (record,) = report["records"][column]
        assert len(record["cases"]) == 2
        assert all(len(c["keys"]) == bench_editor.typed_chars(report["cases"][c["case"]]["body"])
                   for c in record["cases"])
        assert record["cpu_end"] > record["cpu_start"]  # the editor and its server did work while keys were typed
    # The daemon's traces stay under the results name, so a later run beside it does not replace them.
    traces = bench_editor.run_dir(tmp_path / "work", "short", "srag", 0, 200) / "cache" / "traces" / "trace.jsonl"
    assert traces.read_text().strip()
