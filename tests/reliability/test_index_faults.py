"""Index faults while the worker runs: the folder deleted or corrupted, the worker killed mid-write, a full disk,
and two daemons on one workspace. Real worker processes, real LanceDB on disk, real file events.

In each case the index comes back complete (every file on disk is found again), and the worker says what
happened (an error event or its status' ``last_error``) instead of dying.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import string
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from indexer.client import IndexClient
from indexer.query import IndexReader
from tests.indexer.test_worker_client import _built, eventually
from tests.support.indexing import small_workspace, write_files


def _reader(index_dir: Path) -> IndexReader:
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    return reader


def _complete(index_dir: Path, symbols: list[str]) -> bool:
    """A fresh reader finds every one of ``symbols`` (what a restarted daemon would see)."""
    try:
        reader = IndexReader.open(str(index_dir))
    except Exception:
        return False
    return reader is not None and all(reader.symbols([s], 1) for s in symbols)


def _many(root: Path, count: int, padding: int = 0) -> list[str]:
    """``count`` small modules (each with ``padding`` bytes of random words in its docstring, which do not
    compress); a sample of their symbols."""
    rng = random.Random(7)

    def doc() -> str:
        words = ("".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(padding // 6 + 1))
        return " ".join(words)[:padding]

    write_files(
        root,
        {
            f"gen/mod_{i}.py": (
                f'def generated_{i}(x):\n    """{doc()}"""\n    return x * {i}\n\n\nclass Gen{i}:\n    pass\n'
            )
            for i in range(count)
        },
    )
    return [f"generated_{i}" for i in range(0, count, max(1, count // 20))]


async def _start(root: Path, index_dir: Path, events: list[dict[str, Any]]) -> IndexClient:
    client = IndexClient(backoff_s=(0.2,))
    await client.start(root, str(index_dir), {"maxFileBytes": 200_000}, on_event=events.append)
    return client


async def test_the_index_folder_deleted_while_running_is_rebuilt(tmp_path: Path) -> None:
    root, index_dir, events = small_workspace(tmp_path / "ws"), tmp_path / "index", []
    client = await _start(root, index_dir, events)
    try:
        await eventually(lambda: _built(client))
        shutil.rmtree(index_dir)
        (root / "later.py").write_text("def written_after_the_delete():\n    return 1\n")
        await eventually(lambda: _complete(index_dir, ["Circle", "written_after_the_delete"]), timeout=120)
        status = await client.status()
        assert status["last_error"] or any(e["type"] == "error" for e in events)  # it said so
    finally:
        await client.stop()


async def test_a_corrupted_index_is_rebuilt(tmp_path: Path) -> None:
    root, index_dir, events = small_workspace(tmp_path / "ws"), tmp_path / "index", []
    client = await _start(root, index_dir, events)
    try:
        await eventually(lambda: _built(client))
        for path in index_dir.rglob("*"):  # garbage over the manifest and every table file
            if path.is_file() and not path.name.endswith(".lock"):
                path.write_bytes(b"\x00garbage" * 16)
        (root / "later.py").write_text("def written_after_the_damage():\n    return 1\n")
        await eventually(lambda: _complete(index_dir, ["Circle", "written_after_the_damage"]), timeout=120)
    finally:
        await client.stop()
    # a daemon that starts on a damaged index rebuilds it and says so
    for path in (index_dir / "chunks.lance").rglob("*.manifest"):
        path.write_bytes(b"not a manifest")
    events.clear()
    client = await _start(root, index_dir, events)
    try:
        await eventually(lambda: _built(client), timeout=120)
        assert _complete(index_dir, ["Circle", "written_after_the_damage"])
        assert any(e["type"] == "error" and "rebuilding" in e.get("message", "") for e in events), events
    finally:
        await client.stop()


async def test_a_worker_killed_mid_write_leaves_an_index_that_comes_back_complete(tmp_path: Path) -> None:
    root, index_dir, events = small_workspace(tmp_path / "ws"), tmp_path / "index", []
    probes = _many(root, 1500)
    client = await _start(root, index_dir, events)
    try:
        await eventually(lambda: any(e["type"] == "indexed" for e in events), timeout=120)  # writing now
        old = client.pid
        assert old is not None
        os.kill(old, signal.SIGKILL)
        await eventually(lambda: client.pid not in (None, old))
        await eventually(lambda: _built(client), timeout=300)
        assert _complete(index_dir, ["Circle", *probes])
        status = await client.status()
        assert status["files"] == 1503  # every file once
        reader = _reader(index_dir)
        assert len(reader.by_path("gen/mod_7.py")) == len({h.symbol for h in reader.by_path("gen/mod_7.py")})
    finally:
        await client.stop()


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], capture_output=True)
    return result.returncode == 0


async def test_a_full_disk_is_reported_and_the_index_recovers_when_space_returns(tmp_path: Path) -> None:
    disk = tmp_path / "small-disk"
    if os.geteuid() != 0 or not _mount_tmpfs(disk, "1m"):
        pytest.skip("a size-limited tmpfs needs root (mount -t tmpfs); not available here")
    try:
        root, index_dir, events = small_workspace(tmp_path / "ws"), disk / "index", []
        probes = _many(root, 400, padding=4000)  # far more than 1 MB of index
        client = await _start(root, index_dir, events)
        try:
            await eventually(lambda: client.running, timeout=60)

            async def said_full() -> bool:
                status = await client.status(timeout=5)
                error = str(status.get("last_error") or "") + " ".join(str(e.get("message", "")) for e in events)
                return "No space left" in error or "ENOSPC" in error or "space" in error.lower()

            await eventually(said_full, timeout=120)
            assert client.running  # reported, not dead (or restarted by its client)
            subprocess.run(["mount", "-o", "remount,size=256m", str(disk)], check=True)
            (root / f"touch_{uuid.uuid4().hex[:6]}.py").write_text("def after_space_returned():\n    pass\n")
            client.rescan()
            await eventually(lambda: _complete(index_dir, ["Circle", "after_space_returned", *probes]), timeout=300)
        finally:
            await client.stop()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


async def test_two_daemons_on_one_workspace_one_writes_the_other_reads(tmp_path: Path) -> None:
    root, index_dir = small_workspace(tmp_path / "ws"), tmp_path / "index"
    first_events: list[dict[str, Any]] = []
    second_events: list[dict[str, Any]] = []
    first = await _start(root, index_dir, first_events)
    second = None
    try:
        await eventually(lambda: _built(first))
        second = await _start(root, index_dir, second_events)

        async def waiting() -> bool:
            status = await second.status(timeout=5)
            return not status.get("writer") and "lock" in str(status.get("phase", "")) + str(status.get("last_error"))

        await eventually(waiting, timeout=60)
        assert (await first.status())["writer"]
        (root / "shared.py").write_text("def seen_by_both():\n    return 2\n")
        await eventually(lambda: _complete(index_dir, ["seen_by_both"]), timeout=60)  # the one writer wrote it
        await first.stop()
        # the reader takes over as the writer and follows changes
        await eventually(lambda: second.status(timeout=5), timeout=60)

        async def writing() -> bool:
            return bool((await second.status(timeout=5)).get("writer"))

        await eventually(writing, timeout=120)
        (root / "after_handover.py").write_text("def after_handover():\n    return 3\n")
        await eventually(lambda: _complete(index_dir, ["Circle", "seen_by_both", "after_handover"]), timeout=120)
    finally:
        await first.stop()
        if second is not None:
            await second.stop()
