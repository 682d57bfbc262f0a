"""The worker process and its asyncio client: a real subprocess, real frames, real file events, real kills."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from indexer import protocol
from indexer.client import IndexClient
from indexer.query import Hit, IndexReader
from tests.support.indexing import SHAPES_PY, small_workspace

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


async def eventually(probe: Callable[[], T | Awaitable[T]], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s")
        await asyncio.sleep(0.05)


def _reader(index_dir: Path) -> IndexReader:
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    return reader


def _paths(hits: list[Hit]) -> list[str]:
    return [h.path for h in hits]


@pytest.fixture
async def running(tmp_path: Path):
    root = small_workspace(tmp_path / "ws")
    index_dir = tmp_path / "index"
    events: list[dict[str, Any]] = []
    client = IndexClient(backoff_s=(0.2,))
    await client.start(root, str(index_dir), {"maxFileBytes": 200_000}, on_event=events.append)
    await eventually(lambda: _built(client))
    try:
        yield root, index_dir, client, events
    finally:
        await client.stop()


async def _built(client: IndexClient) -> bool:
    status = await client.status(timeout=5)
    return bool(status.get("initial_build_done")) and status.get("pending") == 0


async def test_worker_builds_and_follows_file_changes(running) -> None:
    root, index_dir, client, events = running
    status = await client.status()
    assert status["files"] == 3 and status["chunks"] > 0 and status["writer"] and status["watching"]
    assert status["index_dir"] == str(index_dir) and status["last_error"] is None
    assert {"ready", "progress", "indexed", "status"} <= {e["type"] for e in events}
    reader = _reader(index_dir)
    assert _paths(reader.symbols(["Circle"], 3)) == ["shapes.py"]

    (root / "extra.py").write_text("def appears_later():\n    return 42\n")
    await eventually(lambda: reader.symbols(["appears_later"], 3))
    await eventually(lambda: any(e["type"] == "indexed" and "extra.py" in e["paths"] for e in events))

    tmp = root / ".extra.py.tmp"
    tmp.write_text("def renamed_by_atomic_save():\n    return 1\n")
    os.replace(tmp, root / "extra.py")
    await eventually(lambda: reader.symbols(["renamed_by_atomic_save"], 3))
    assert reader.symbols(["appears_later"], 3) == []

    (root / "extra.py").unlink()
    await eventually(lambda: not reader.symbols(["renamed_by_atomic_save"], 3))


async def test_buffer_overlay_wins_then_reverts(running) -> None:
    root, index_dir, client, _ = running
    reader = _reader(index_dir)
    draft = SHAPES_PY.replace("def unit_circle()", "def draft_only_function()")
    client.buffer_changed(str(root / "shapes.py"), draft, 3)
    hits = await eventually(lambda: reader.symbols(["draft_only_function"], 3))
    assert hits[0].overlay and hits[0].path == "shapes.py"
    assert reader.symbols(["unit_circle"], 3) == []  # the overlay replaces the file's rows
    assert (await client.status())["overlays"] == 1

    client.buffer_closed(str(root / "shapes.py"))
    await eventually(lambda: reader.symbols(["unit_circle"], 3))
    assert reader.symbols(["draft_only_function"], 3) == []
    assert not any(h.overlay for h in reader.by_path("shapes.py"))

    # saved: the new disk content is indexed and the overlay dropped
    client.buffer_changed(str(root / "shapes.py"), draft, 4)
    await eventually(lambda: reader.symbols(["draft_only_function"], 3))
    (root / "shapes.py").write_text(draft.replace("draft_only_function", "saved_function"))
    client.buffer_saved(str(root / "shapes.py"))
    await eventually(lambda: reader.symbols(["saved_function"], 3))
    await eventually(lambda: not reader.symbols(["draft_only_function"], 3))


async def test_a_killed_worker_is_restarted_and_the_index_still_answers(running) -> None:
    root, index_dir, client, events = running
    reader = _reader(index_dir)
    client.buffer_changed(str(root / "net" / "parser.py"), "class UnsavedThing:\n    pass\n", 1)
    await eventually(lambda: reader.symbols(["UnsavedThing"], 3))

    old_pid = client.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    await eventually(lambda: client.pid not in (None, old_pid))
    assert client.restart_count == 1
    assert any(e["type"] == "worker_exited" and e["returncode"] == -signal.SIGKILL for e in events)

    assert _paths(reader.symbols(["Circle"], 3)) == ["shapes.py"]  # readers never depended on the worker
    await eventually(lambda: _built(client))
    # the open buffer was replayed to the new worker
    await eventually(lambda: reader.symbols(["UnsavedThing"], 3))
    (root / "after_restart.py").write_text("def after_restart():\n    pass\n")
    await eventually(lambda: reader.symbols(["after_restart"], 3))


async def test_restarts_are_bounded(tmp_path: Path) -> None:
    """Fault injection: the "interpreter" is a program that exits at once, so every start fails."""
    events: list[dict[str, Any]] = []
    client = IndexClient(python="/bin/false", max_restarts=2, backoff_s=(0.05,))
    await client.start(tmp_path, str(tmp_path / "index"), {}, on_event=events.append)
    try:
        await eventually(lambda: client.state == "failed", timeout=30)
        assert client.restart_count == 2
        assert [e["type"] for e in events].count("worker_exited") == 3
        assert events[-1]["type"] == "worker_failed"
        client.notify_file_changed(["x.py"])  # sends never raise, even with no worker
        status = await client.status(timeout=0.5)
        assert status["stale"] and status["worker"] == "failed"
    finally:
        await client.stop()


async def test_stop_ends_the_process(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    client = IndexClient()
    seen: list[tuple[str, dict[str, Any]]] = []
    await client.start(root, str(tmp_path / "index"), {}, lambda kind, payload: seen.append((kind, payload)))
    await eventually(lambda: any(kind == "indexed" and payload["chunks"] > 0 for kind, payload in seen))
    assert seen[0] == ("ready", {"pid": client.pid})  # a (kind, payload) callback gets that form
    pid = client.pid
    assert pid is not None
    await client.stop()
    assert client.pid is None and client.state == "stopped"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _worker() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "indexer.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    )


def test_worker_reports_bad_requests_and_survives_them(tmp_path: Path) -> None:
    proc = _worker()
    assert proc.stdin is not None and proc.stdout is not None
    assert protocol.read_frame(proc.stdout)["type"] == "ready"
    proc.stdin.write(protocol.encode({"type": "file_changed", "paths": ["a.py"]}))  # before start
    proc.stdin.write(protocol.encode({"type": "no_such_message"}))
    proc.stdin.write(protocol.encode({"type": "start", "root": 42}))
    proc.stdin.write(protocol.encode({"type": "status", "id": 7}))
    proc.stdin.flush()
    replies = [protocol.read_frame(proc.stdout) for _ in range(4)]
    assert [r["type"] for r in replies] == ["error", "error", "error", "status"]
    assert "start first" in replies[0]["message"]
    assert replies[3]["id"] == 7
    proc.stdin.write(protocol.encode({"type": "shutdown"}))
    proc.stdin.flush()
    assert proc.wait(timeout=60) == 0
    assert proc.stdout.read() == b""  # nothing but frames on stdout


def test_worker_stops_on_a_garbled_stream(tmp_path: Path) -> None:
    proc = _worker()
    assert proc.stdin is not None and proc.stdout is not None
    assert protocol.read_frame(proc.stdout)["type"] == "ready"
    proc.stdin.write(b"\xff\xff\xff\xffgarbage")
    proc.stdin.close()
    assert proc.wait(timeout=60) == 2
    assert proc.stderr is not None and b"unreadable request" in proc.stderr.read()
