"""`srag-lsp retrieve`: the --batch JSON-lines contract, the text override, bad input, a missing index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from srag_lsp.commands.retrieve import run_retrieve_cli
from tests.srag_lsp.retrieval.sample_workspace import FILES, position

REPO = Path(__file__).resolve().parents[3]
CHUNK_FIELDS = {"path", "start_line", "end_line", "symbol", "kind", "source", "score"}


def write_cases(path: Path, cases: list[object]) -> Path:
    path.write_text("".join((c if isinstance(c, str) else json.dumps(c)) + "\n" for c in cases), encoding="utf-8")
    return path


def run_batch(capsys, workspace: Path, index_dir: Path, cases: Path, *extra: str) -> tuple[int, list[dict], str]:
    status = run_retrieve_cli(
        ["--workspace", str(workspace), "--batch", str(cases), "--index-dir", str(index_dir), *extra]
    )
    captured = capsys.readouterr()
    return status, [json.loads(line) for line in captured.out.splitlines()], captured.err


def test_batch_contract(capsys, indexed_workspace: tuple[Path, Path], tmp_path: Path):
    root, index_dir = indexed_workspace
    (root / "shop" / "logo.py").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    line, col = position(FILES["shop/api.py"], 'OrderError("an order')
    override = FILES["shop/api.py"] + "\n" * 30 + "def later():\n    return utils.sl"
    override_line = override.count("\n") + 1
    cases = write_cases(
        tmp_path / "cases.jsonl",
        [
            {"file": "shop/api.py", "line": line + 1, "col": col + 1},
            {"file": "shop/api.py", "line": override_line, "col": len("    return utils.sl") + 1, "text": override},
            {"file": "../outside.py", "line": 1, "col": 1},
            {"file": "shop/api.py", "line": 9999, "col": 1},
            {"file": "shop/logo.py", "line": 1, "col": 1},
            "{not json",
            {"file": "shop/api.py", "line": "3", "col": 1},
            {"file": str(root / "shop" / "pricing.py"), "line": 14, "col": 12},
        ],
    )
    status, records, err = run_batch(capsys, root, index_dir, cases, "-k", "5")
    assert status == 0
    assert len(records) == 8  # one line per case, in order, failures included
    good = [records[0], records[1], records[7]]
    for record in good:
        assert set(record) == {"chunks", "ms"}
        assert 0 < len(record["chunks"]) <= 5
        for chunk in record["chunks"]:
            assert set(chunk) == CHUNK_FIELDS
            assert not chunk["path"].startswith("/") and (root / chunk["path"]).is_file()
            assert 1 <= chunk["start_line"] <= chunk["end_line"]
            assert isinstance(chunk["score"], float)
        assert set(record["ms"]) <= {"symbol", "imports", "fts", "buffers", "vector", "cache"}
        assert all(isinstance(v, float) for v in record["ms"].values())
    assert records[0]["chunks"][0]["symbol"] == "OrderError"
    assert records[0]["chunks"][0]["path"] == "shop/models.py"
    # the unsaved text was used: its line 60-odd does not exist on disk, and `utils.sl` completes to slugify
    assert records[1]["chunks"][0]["symbol"] == "slugify"
    for record, reason in zip(
        records[2:7], ["outside the workspace", "past the end", "binary", "not JSON", "integers"], strict=True
    ):
        assert record["chunks"] == [] and record["ms"] == {}
        assert reason in record["error"]
    assert "5 of 8 cases could not be run" in err


def test_missing_index_is_built_and_said(capsys, tmp_path: Path):
    root = tmp_path / "ws"
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index_dir = tmp_path / "fresh-index"
    line, col = position(FILES["shop/api.py"], "apply_coupon(self.order")
    cases = write_cases(tmp_path / "c.jsonl", [{"file": "shop/api.py", "line": line + 1, "col": col + 1}])
    status, records, err = run_batch(capsys, root, index_dir, cases)
    assert status == 0
    assert "no index at" in err and "building" in err
    assert (index_dir / "chunks.lance").is_dir()
    assert any(c["symbol"] == "apply_coupon" for c in records[0]["chunks"])


def test_single_location_through_the_real_command(indexed_workspace: tuple[Path, Path]):
    root, index_dir = indexed_workspace
    line, col = position(FILES["shop/api.py"], 'OrderError("an order')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    base = [
        sys.executable,
        "-m",
        "srag_lsp.cli",
        "retrieve",
        "--workspace",
        str(root),
        "--index-dir",
        str(index_dir),
        f"shop/api.py:{line + 1}:{col + 1}",
    ]
    human = subprocess.run(base, capture_output=True, text=True, env=env, timeout=120, check=True)
    assert "scope: place_order" in human.stdout
    assert "shop/models.py:" in human.stdout and "OrderError (class)" in human.stdout
    assert "sources: " in human.stdout
    as_json = subprocess.run(
        [*base, "--json", "-k", "3"], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    record = json.loads(as_json.stdout)
    assert set(record) == {"chunks", "ms"} and len(record["chunks"]) <= 3
    assert record["chunks"][0]["symbol"] == "OrderError"


@pytest.mark.parametrize(
    "location,message",
    [
        ("shop/api.py", "expected FILE:LINE:COL"),
        ("shop/api.py:x:1", "must be numbers"),
        ("../elsewhere.py:1:1", "outside the workspace"),
        ("shop/api.py:500:1", "past the end"),
        ("shop/api.py:1:500", "past the end of line 1"),
        ("shop/nope.py:1:1", "cannot read"),
    ],
)
def test_bad_single_locations_exit_2(capsys, indexed_workspace: tuple[Path, Path], location: str, message: str):
    root, index_dir = indexed_workspace
    status = run_retrieve_cli(["--workspace", str(root), "--index-dir", str(index_dir), location])
    assert status == 2
    assert message in capsys.readouterr().err
