"""``srag-index`` as a user runs it: a real subprocess on a real workspace, stdout for results, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.embedding import require_local_model
from tests.support.indexing import small_workspace

REPO = Path(__file__).resolve().parents[2]


def srag_index(*args: str, cache: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "SRAG_CACHE_DIR": str(cache), **(env or {})}
    full_env.pop("SRAG_INDEX_DIR", None)
    full_env.pop("SRAG_EMBEDDINGS", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "indexer.cli", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def ws(tmp_path: Path) -> tuple[Path, Path]:
    return small_workspace(tmp_path / "ws"), tmp_path / "cache"


def test_build_then_query_symbol(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    built = srag_index("build", str(root), cache=cache)
    assert built.returncode == 0, built.stderr
    assert "3 files (3 indexed" in built.stdout
    index_folders = list((cache / "indexes").iterdir())
    assert [p.name.startswith("ws-") for p in index_folders] == [True]
    assert index_folders[0].stat().st_mode & 0o777 == 0o700

    found = srag_index("query", str(root), "--symbol", "Circle", cache=cache)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines()[0].startswith("shapes.py:6-13  class")

    as_json = srag_index("query", str(root), "--symbol", "Circle.area", "--json", "-k", "5", cache=cache)
    hits = json.loads(as_json.stdout)
    assert hits == [
        {
            "path": "shapes.py",
            "start_line": 12,
            "end_line": 13,
            "symbol": "area",
            "qualified_name": "Circle.area",
            "kind": "method",
            "signature": "def area(self) -> float:",
            "score": hits[0]["score"],
        }
    ]
    text = srag_index("query", str(root), "--text", "http response", "--json", cache=cache)
    assert json.loads(text.stdout)[0]["path"] == "net/parser.py"
    prefix = srag_index("query", str(root), "--prefix", "greet", "--json", cache=cache)
    assert {h["symbol"] for h in json.loads(prefix.stdout)} >= {"greet", "greetUser"}


def test_nothing_found_exits_1(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    srag_index("build", str(root), cache=cache)
    missing = srag_index("query", str(root), "--symbol", "NoSuchThing", cache=cache)
    assert missing.returncode == 1 and missing.stdout == "" and "no matches" in missing.stderr


def test_query_without_an_index_builds_it_first(ws: tuple[Path, Path], tmp_path: Path) -> None:
    root, cache = ws
    explicit = tmp_path / "explicit-index"
    result = srag_index("query", str(root), "--symbol", "Greeter", "--index-dir", str(explicit), cache=cache)
    assert result.returncode == 0, result.stderr
    assert "no index" in result.stderr and "building it first" in result.stderr
    assert result.stdout.startswith("web/greeting.js:5-")
    assert (explicit / "chunks.lance").is_dir() and not (cache / "indexes").exists()


def test_a_damaged_index_is_rebuilt_with_a_message(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    srag_index("build", str(root), cache=cache)
    index_dir = next((cache / "indexes").iterdir())
    for manifest in (index_dir / "chunks.lance" / "_versions").iterdir():
        manifest.write_bytes(b"garbage")
    result = srag_index("query", str(root), "--symbol", "Circle", cache=cache)
    assert result.returncode == 0, result.stderr
    assert "damaged" in result.stderr and "building it first" in result.stderr
    assert "rebuilding the index" in result.stderr
    assert result.stdout.startswith("shapes.py:6-13")


def test_status(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    none_yet = srag_index("status", str(root), "--json", cache=cache)
    assert none_yet.returncode == 1 and json.loads(none_yet.stdout)["exists"] is False
    srag_index("build", str(root), cache=cache)
    status = srag_index("status", str(root), "--json", cache=cache)
    assert status.returncode == 0
    info = json.loads(status.stdout)
    assert info["files"] == 3 and info["chunks"] > 0 and info["initial_build_done"] is True
    assert info["versions"] >= 1 and info["fragments"] >= 1 and info["writer_pid"] is None
    assert "symbol_idx" in info["indexes"] and "needs_rebuild" not in info
    human = srag_index("status", str(root), cache=cache)
    assert re.search(r"files\s+3\n", human.stdout)


def test_build_json_and_bad_usage(ws: tuple[Path, Path], tmp_path: Path) -> None:
    root, cache = ws
    built = srag_index("build", str(root), "--json", cache=cache)
    report = json.loads(built.stdout)
    assert report["indexed"] == 3 and report["errors"] == 0 and report["root"] == str(root)
    again = json.loads(srag_index("build", str(root), "--json", cache=cache).stdout)
    assert again["indexed"] == 0 and again["unchanged"] == 3
    assert srag_index("build", str(tmp_path / "nope"), cache=cache).returncode == 2
    assert srag_index("query", str(root), cache=cache).returncode == 2  # --symbol or --text is required


def test_build_refuses_while_another_writer_holds_the_index(ws: tuple[Path, Path], tmp_path: Path) -> None:
    from indexer.writer_lock import WriterLock

    root, cache = ws
    index_dir = tmp_path / "locked-index"
    index_dir.mkdir()
    with WriterLock(index_dir):
        result = srag_index("build", str(root), "--index-dir", str(index_dir), cache=cache)
    assert result.returncode == 3
    assert f"pid {os.getpid()}" in result.stderr


def test_build_with_local_embeddings_then_a_semantic_query(ws: tuple[Path, Path]) -> None:
    require_local_model()
    root, cache = ws
    built = srag_index("build", str(root), "--embeddings", "local", "--json", cache=cache)
    assert built.returncode == 0, built.stderr
    embedded = json.loads(built.stdout)["embeddings"]
    assert embedded["complete"] is True and embedded["error"] is None
    assert embedded["embedded_now"] == 12 and embedded["pending"] == 0 and embedded["vectors"] == 12
    assert "embed 12/12" in built.stderr  # progress, in chunks
    found = srag_index("query", str(root), "--semantic", "turn the bytes of a web server's reply into a header map",
                       "--json", "-k", "2", cache=cache)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert hits[0]["symbol"] == "parse_http_response" and 0 < hits[0]["score"] <= 1
    status = json.loads(srag_index("status", str(root), "--json", cache=cache).stdout)
    (model, vectors), = status["vectors"].items()
    assert model.startswith("local:") and vectors["embedded"] == 12 and vectors["embeddings_pending"] == 0
    assert "embeddings         local:" in srag_index("status", str(root), cache=cache).stdout
    again = srag_index("build", str(root), cache=cache, env={"SRAG_EMBEDDINGS": "local"})
    assert again.returncode == 0 and "embedded 0 chunk texts" in again.stdout  # nothing new to embed


def test_semantic_query_on_an_index_without_vectors(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    srag_index("build", str(root), cache=cache)
    result = srag_index("query", str(root), "--semantic", "anything", cache=cache)
    assert result.returncode == 1 and "has no vectors: build it with --embeddings local" in result.stderr


def test_missing_tokenizer_builds_the_index_and_names_the_command(ws: tuple[Path, Path], tmp_path: Path) -> None:
    root, cache = ws
    env = {"SRAG_MODEL_DIR": str(tmp_path / "no-models")}
    built = srag_index("build", str(root), "--embeddings", "local", "--json", cache=cache, env=env)
    assert built.returncode == 3
    assert "embeddings are off" in built.stderr
    assert "srag-lsp models all-minilm-l6-v2" in built.stderr or "pip install" in built.stderr
    report = json.loads(built.stdout)
    assert report["indexed"] == 3 and report["embeddings"]["complete"] is False
    assert srag_index("query", str(root), "--symbol", "Circle", cache=cache).returncode == 0


def test_a_bad_embeddings_mode_is_a_usage_error(ws: tuple[Path, Path]) -> None:
    root, cache = ws
    result = srag_index("build", str(root), cache=cache, env={"SRAG_EMBEDDINGS": "yes"})
    assert result.returncode == 2 and "SRAG_EMBEDDINGS must be one of off, local, ollama" in result.stderr
    assert srag_index("build", str(root), "--embeddings", "maybe", cache=cache).returncode == 2
