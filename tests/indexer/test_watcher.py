"""The watcher with real inotify events: writes, atomic saves, deletes, renames, bursts, ignored trees."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.watcher import WorkspaceWatcher
from tests.support.indexing import wait_until


class Recorder:
    def __init__(self) -> None:
        self.batches: list[set[str]] = []
        self._lock = threading.Lock()

    def __call__(self, batch: set[str]) -> None:
        with self._lock:
            self.batches.append(set(batch))

    def seen(self) -> set[str]:
        with self._lock:
            return set().union(*self.batches) if self.batches else set()


def _drain(root: Path, recorder: Recorder, name: str) -> None:
    """Wait until every event before now has been handed over: inotify delivers in order, so once a marker
    written now is reported, so is everything written before it."""
    (root / "pkg" / name).write_text("marker\n")
    wait_until(lambda: f"pkg/{name}" in recorder.seen())


def _gitignored(rel: str, is_dir: bool) -> bool:
    return rel == "build" or rel.startswith("build/") or rel.endswith(".log")


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[Path, Recorder, WorkspaceWatcher]]:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / ".git" / "objects").mkdir(parents=True)
    (root / "node_modules" / "lib").mkdir(parents=True)
    (root / "build" / "out").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    recorder = Recorder()
    watcher = WorkspaceWatcher(root, recorder, is_ignored=_gitignored, quiet_s=0.1, max_delay_s=1.0)
    watcher.start()
    yield root, recorder, watcher
    watcher.stop()


def test_write_is_reported(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, _ = watched
    (root / "pkg" / "mod.py").write_text("x = 2\n")
    wait_until(lambda: "pkg/mod.py" in recorder.seen())


def test_atomic_save_reports_the_target(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, _ = watched
    temp = root / "pkg" / ".mod.py.swp-tmp"
    temp.write_text("x = 3\n")
    os.replace(temp, root / "pkg" / "mod.py")  # what editors do: write a temp file, move it onto the target
    wait_until(lambda: "pkg/mod.py" in recorder.seen())


def test_delete_and_rename_report_the_old_path(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, _ = watched
    (root / "pkg" / "gone.py").write_text("y = 1\n")
    wait_until(lambda: "pkg/gone.py" in recorder.seen())
    _drain(root, recorder, "drained.py")  # the rest of gone.py's creation events are in, not left to come
    with recorder._lock:
        recorder.batches.clear()
    (root / "pkg" / "gone.py").unlink()
    os.rename(root / "pkg" / "mod.py", root / "pkg" / "renamed.py")
    wait_until(lambda: {"pkg/gone.py", "pkg/mod.py", "pkg/renamed.py"} <= recorder.seen())


def test_a_new_folder_is_watched(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, _ = watched
    (root / "newpkg" / "deep").mkdir(parents=True)
    (root / "newpkg" / "deep" / "a.py").write_text("a = 1\n")
    wait_until(lambda: "newpkg/deep/a.py" in recorder.seen() or "newpkg" in recorder.seen())
    (root / "newpkg" / "deep" / "a.py").write_text("a = 2\n")
    _drain(root, recorder, "drained.py")  # the folder's creation events are all in
    with recorder._lock:
        recorder.batches.clear()
    (root / "newpkg" / "deep" / "b.py").write_text("b = 1\n")
    wait_until(lambda: "newpkg/deep/b.py" in recorder.seen())


def test_a_burst_is_coalesced_into_few_batches(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, _ = watched
    expected = set()
    for i in range(200):
        (root / "pkg" / f"f{i}.py").write_text(f"v = {i}\n")
        expected.add(f"pkg/f{i}.py")
    wait_until(lambda: expected <= recorder.seen())
    batches_with_burst = [b for b in recorder.batches if b & expected]
    # 200 files make 600+ raw events (create, modify, close); they arrive as a handful of batches
    assert len(batches_with_burst) <= 20


def test_ignored_trees_produce_no_batches(watched: tuple[Path, Recorder, WorkspaceWatcher]) -> None:
    root, recorder, watcher = watched
    before = watcher.events_seen
    (root / ".git" / "objects" / "ab").write_text("blob")
    (root / ".git" / "index.lock").write_text("lock")
    (root / "node_modules" / "lib" / "index.js").write_text("module.exports = 1\n")
    (root / "build" / "out" / "gen.py").write_text("g = 1\n")
    (root / "pkg" / "debug.log").write_text("noise\n")
    (root / "pkg" / "marker.py").write_text("m = 1\n")  # a change that is reported, to know events flowed
    wait_until(lambda: "pkg/marker.py" in recorder.seen())
    seen = recorder.seen()
    assert not any(p.startswith((".git", "node_modules", "build")) or p.endswith(".log") for p in seen)
    if watcher.pruning:
        # ignored folders below the root are not watched at all: only the root's own entries (.git/ is
        # reported by the root watch when it changes) and pkg/ produced events
        assert watcher.events_seen - before <= 12


def test_stop_is_prompt_and_final(tmp_path: Path) -> None:
    recorder = Recorder()
    watcher = WorkspaceWatcher(tmp_path, recorder, is_ignored=lambda rel, is_dir: False)
    watcher.start()
    watcher.stop()
    # A second watcher, still running, is the witness: once it reports the write (after the same quiet period),
    # the stopped one would have reported it too.
    witness_seen = Recorder()
    witness = WorkspaceWatcher(tmp_path, witness_seen, is_ignored=lambda rel, is_dir: False)
    witness.start()
    try:
        (tmp_path / "late.py").write_text("x = 1\n")
        wait_until(lambda: "late.py" in witness_seen.seen())
    finally:
        witness.stop()
    assert recorder.seen() == set() and watcher.events_seen == 0
