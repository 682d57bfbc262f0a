"""`srag-lsp complete`, run as a user runs it: a real index, the real embedded model, JSON events on stdout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SHOP = REPO / "examples" / "shop"


def _env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, SRAG_CACHE_DIR=str(tmp_path / "cache"), SRAG_INDEX_DIR=str(tmp_path / "index"),
                SRAG_BACKEND="embedded", SRAG_MAX_TOKENS="24", OLLAMA_HOST="http://127.0.0.1:9")


def _complete(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "srag_lsp.cli", "complete", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _events(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]  # every line is one JSON object


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    workspace = tmp_path / "shop"
    shutil.copytree(SHOP, workspace)
    return workspace


@pytest.mark.model
def test_complete_with_an_index_streams_a_draft_then_refines_with_workspace_context(shop: Path, tmp_path: Path) -> None:
    env = _env(tmp_path)
    subprocess.run([sys.executable, "-m", "indexer.cli", "build", str(shop)], env=env, check=True,
                   capture_output=True, timeout=300)
    done = _complete(["--workspace", str(shop), "checkout.py:10:18", "--json"], REPO, env)
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    start = next(e for e in events if e["event"] == "start")
    assert start["index"] is True and start["backend"] == "embedded"
    assert events.index(start) < min(i for i, e in enumerate(events) if e["event"] == "suggestion")
    suggestions = [e for e in events if e["event"] == "suggestion"]
    assert suggestions and suggestions[0]["stage"] == "draft"
    summary = events[-1]
    assert summary["event"] == "done" and summary["text"].strip()
    assert summary["stage"] == "refined"
    assert any(c["path"] == "pricing.py" and c["symbol"] == "apply_discount" for c in summary["context"])
    assert summary["generated_tokens"] > 0 and summary["prompt_tokens"] >= summary["prompt_evaluated"] > 0


@pytest.mark.model
def test_complete_without_an_index_says_so_and_uses_local_context(shop: Path, tmp_path: Path) -> None:
    # The file is given relative to the current folder, not to the workspace: both are accepted.
    done = _complete(["--workspace", str(shop), "shop/checkout.py:10:18", "--json"], tmp_path, _env(tmp_path))
    assert done.returncode == 0, done.stderr
    events = _events(done.stdout)
    warnings = [e for e in events if e["event"] == "message" and e["level"] == "warning"]
    assert any("no index" in e["message"] and "srag-index build" in e["message"] for e in warnings)
    assert events[-1]["event"] == "done" and events[-1]["text"].strip() and events[-1]["context"] == []


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    done = _complete(["--workspace", str(tmp_path), "nope.py:1:1"], tmp_path, _env(tmp_path))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "nope.py" in done.stderr and done.stdout == ""


def test_a_line_past_the_end_is_a_clear_error(shop: Path, tmp_path: Path) -> None:
    done = _complete(["--workspace", str(shop), "checkout.py:999:1"], tmp_path, _env(tmp_path))
    assert done.returncode == 2
    assert "past the end" in done.stderr


@pytest.mark.parametrize("location", ["checkout.py", "checkout.py:x:1", "checkout.py:0:1"])
def test_a_malformed_location_is_a_clear_error(shop: Path, tmp_path: Path, location: str) -> None:
    done = _complete(["--workspace", str(shop), location], tmp_path, _env(tmp_path))
    assert done.returncode != 0
    assert "LINE:COL" in done.stderr or "line" in done.stderr.lower(), done.stderr
    assert "Traceback" not in done.stderr
