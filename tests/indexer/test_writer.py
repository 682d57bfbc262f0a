"""The writer engine in process: coalescing, compaction when idle, bounded versions, thread-safe reads."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

from indexer.query import IndexReader
from indexer.writer import IndexService, ServiceTuning
from tests.support.indexing import SHAPES_PY, small_workspace, wait_until


def test_saves_compact_when_idle_and_versions_stay_bounded(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    events: list[dict] = []
    # the default idle pause (2 s): a loaded machine can take longer than a shorter one between two saves
    tuning = ServiceTuning(debounce_s=0.05, optimize_every_writes=1000)
    service = IndexService(root, str(tmp_path / "index"), {"cleanup_age_s": 1}, emit=events.append, tuning=tuning)
    service.start()
    try:
        assert service.wait_idle(120)
        reader = IndexReader.open(str(tmp_path / "index"))
        assert reader is not None
        for i in range(15):
            (root / "shapes.py").write_text(SHAPES_PY + f"\n\ndef saved_{i}():\n    return {i}\n")
            wait_until(lambda i=i: reader.symbols([f"saved_{i}"], 1))
        busy = service.status()["versions"]
        assert busy > 20  # each save is a delete and an add
        # idle: compaction, then the old versions are dropped once older than the cleanup age
        wait_until(lambda: service.status()["versions"] <= 3 and service.status()["fragments"] <= 2, timeout=60)
        assert reader.symbols(["saved_14"], 1) and reader.symbols(["saved_13"], 1) == []
        assert service.status()["last_error"] is None
    finally:
        service.stop()
    assert service.status()["phase"] == "stopped"


def test_many_changes_at_once_are_one_batch(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    service = IndexService(root, str(tmp_path / "index"), {}, tuning=ServiceTuning(watch=False))
    service.start()
    try:
        assert service.wait_idle(120)
        for i in range(300):  # a branch switch: hundreds of files at once
            (root / "branch" / f"m{i}.py").parent.mkdir(exist_ok=True)
            (root / "branch" / f"m{i}.py").write_text(f"def branch_fn_{i}():\n    return {i}\n")
        service.file_changed([str(root / "branch" / f"m{i}.py") for i in range(300)])
        service.file_changed(["branch"])
        assert service.wait_idle(120)
        status = service.status()
        assert status["files"] == 303 and status["pending"] == 0
        report = status["last_build"]
        assert report is not None
        reader = IndexReader.open(str(tmp_path / "index"))
        assert reader is not None and reader.symbols(["branch_fn_299"], 1)[0].path == "branch/m299.py"
    finally:
        service.stop()


def test_reader_is_safe_from_many_threads(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    service = IndexService(root, str(tmp_path / "index"), {}, tuning=ServiceTuning(watch=False))
    service.start()
    assert service.wait_idle(120)
    service.stop()
    reader = IndexReader.open(str(tmp_path / "index"))
    assert reader is not None
    calls = [
        lambda: [h.path for h in reader.symbols(["Circle", "Greeter"], 5)],
        lambda: [h.symbol for h in reader.symbol_prefix("gree", 5)],
        lambda: [h.path for h in reader.text_search("http response", 5)],
        lambda: [h.qualified_name for h in reader.by_path("shapes.py")],
    ]
    expected = [call() for call in calls]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(calls[i % 4]) for i in range(200)]
        results = [f.result() for f in futures]
    assert all(result == expected[i % 4] for i, result in enumerate(results))
    assert expected[0] == ["shapes.py", "web/greeting.js"]
