"""Builds: the process pool, batches, hostile files, and incremental updates from batches of paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer.build_options import BuildOptions
from indexer.builder import IndexBuilder
from indexer.opening import open_index
from indexer.query import IndexReader
from tests.support.indexing import GREETING_JS, PARSER_PY, SHAPES_PY, small_workspace, write_files


def _builder(root: Path, index_dir: Path, **options: object) -> IndexBuilder:
    indexed: list[tuple[list[str], int]] = []
    builder = IndexBuilder(
        root, open_index(str(index_dir)), BuildOptions(**options), on_indexed=lambda p, n: indexed.append((p, n))
    )  # type: ignore[arg-type]
    builder.indexed_events = indexed  # type: ignore[attr-defined]
    return builder


def _many_files(root: Path, count: int) -> None:
    write_files(
        root,
        {
            f"pkg{i % 7}/mod_{i}.py": f"def function_{i}(x):\n    return x + {i}\n\n\nclass Class{i}:\n    pass\n"
            for i in range(count)
        },
    )


def test_pool_build_matches_a_serial_build(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    _many_files(root, 120)
    progress: list[tuple[int, int, str]] = []
    pooled = _builder(
        root, tmp_path / "pooled", processes=2, parallel_min_files=10, files_per_task=8, write_batch_chunks=50
    )
    report = pooled.build(lambda done, total, phase: progress.append((done, total, phase)))
    assert report.indexed == 120 and report.errors == 0
    assert report.write_batches > 1  # written in batches, not one big write
    assert len(pooled.indexed_events) == report.write_batches  # type: ignore[attr-defined]
    assert progress[0][2] == "scan" and progress[-1][2] == "done"
    assert ("index" in {p for _, _, p in progress}) and max(d for d, t, p in progress if p == "index") == 120

    serial = _builder(root, tmp_path / "serial", processes=1)
    serial.build()
    assert sorted(pooled.manifest.files) == sorted(serial.manifest.files)
    assert {p: r.chunk_ids for p, r in pooled.manifest.files.items()} == {
        p: r.chunk_ids for p, r in serial.manifest.files.items()
    }
    reader = IndexReader.open(str(tmp_path / "pooled"))
    assert reader is not None
    hit = reader.symbols(["function_77"], 3)[0]
    assert (hit.path, hit.start_line, hit.end_line) == ("pkg0/mod_77.py", 1, 2)
    assert pooled.store.count_rows() == pooled.manifest.chunk_count()


def test_hostile_files_are_skipped_and_the_build_succeeds(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = small_workspace(tmp_path / "ws")
    write_files(
        root,
        {
            "binary.py": b"\x00\x01\x02ELF" * 100,
            "huge.py": "x = 1\n" * 50_000,
            "latin1.py": "def caf\xe9():\n    return '\xe9t\xe9'\n".encode("latin-1"),
            "broken.py": "def broken(:\n    return ((\n\nclass StillFound:\n    pass\n",
            "locked.py": "def locked():\n    pass\n",
            "vanishing.py": "def vanishing():\n    pass\n",
        },
    )
    os.mkfifo(root / "pipe.py")  # reading it would block forever
    os.symlink(root / "missing-target.py", root / "dangling.py")
    (root / "locked.py").chmod(0)
    as_root = os.geteuid() == 0

    def vanish(done: int, total: int, phase: str) -> None:
        if phase == "index" and done == 0:  # after the walk, before reading: the file disappears
            (root / "vanishing.py").unlink()

    builder = _builder(root, tmp_path / "index", max_file_bytes=100_000, processes=1)
    with caplog.at_level("INFO"):
        report = builder.build(vanish)
    (root / "locked.py").chmod(0o644)

    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "binary" in messages and "too large" in messages and "vanished" in messages
    assert "not valid UTF-8" in messages
    assert report.errors == 0
    assert report.skipped == 3 + (0 if as_root else 1)  # binary, huge, vanished (+ permission denied)
    reader = IndexReader.open(str(tmp_path / "index"))
    assert reader is not None
    assert reader.symbols(["StillFound"], 3)[0].path == "broken.py"  # a syntax error still yields chunks
    assert reader.symbols(["caf\ufffd"], 3) or reader.by_path("latin1.py")  # decoded with replacement
    assert reader.symbols(["Circle"], 3)[0].path == "shapes.py"
    assert reader.by_path("binary.py") == [] and reader.by_path("huge.py") == []
    assert "pipe.py" not in builder.manifest.files and "vanishing.py" not in builder.manifest.files

    # skipped files are remembered: the next build reads nothing again
    again = _builder(root, tmp_path / "index", max_file_bytes=100_000, processes=1).build()
    assert again.indexed == 0 and again.skipped == (0 if as_root else again.skipped)


def test_update_applies_a_batch_of_paths(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    write_files(root, {".gitignore": "generated/\n"})
    builder = _builder(root, tmp_path / "index", processes=1)
    builder.build()
    reader = IndexReader.open(str(tmp_path / "index"))
    assert reader is not None

    (root / "shapes.py").write_text(SHAPES_PY.replace("unit_circle", "unit_disc"))
    (root / "web" / "greeting.js").unlink()
    write_files(root, {"lib/deep/new_mod.py": "def newly_added():\n    pass\n"})
    write_files(root, {"generated/out.py": "def generated_code():\n    pass\n"})
    write_files(root, {"notes.txt": "not source code\n"})
    report = builder.update(
        ["shapes.py", "web/greeting.js", "lib", "generated/out.py", "generated", "notes.txt", "../outside.py"]
    )
    assert report.indexed == 2 and report.removed == 1
    assert reader.symbols(["unit_disc"], 3)[0].path == "shapes.py"
    assert reader.symbols(["unit_circle"], 3) == []
    assert reader.by_path("web/greeting.js") == []
    assert reader.symbols(["newly_added"], 3)[0].path == "lib/deep/new_mod.py"
    assert reader.symbols(["generated_code"], 3) == []  # gitignored

    # a folder removed at once (a branch switch) removes every file below it
    (root / "lib" / "deep" / "new_mod.py").unlink()
    (root / "lib" / "deep").rmdir()
    (root / "lib").rmdir()
    report = builder.update(["lib"])
    assert report.removed == 1 and reader.symbols(["newly_added"], 3) == []

    # a .gitignore change reloads the rules and rescans
    (root / ".gitignore").write_text("")
    report = builder.update([".gitignore"])
    assert reader.symbols(["generated_code"], 3)[0].path == "generated/out.py"


def test_overlay_wins_then_the_disk_version_returns(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws")
    builder = _builder(root, tmp_path / "index", processes=1)
    builder.build()
    reader = IndexReader.open(str(tmp_path / "index"))
    assert reader is not None

    builder.write_overlay("net/parser.py", PARSER_PY.replace("class ResponseParser", "class DraftParser"))
    draft = reader.symbols(["DraftParser"], 3)
    assert draft and draft[0].overlay and reader.symbols(["ResponseParser"], 3) == []
    builder.update(["net/parser.py"], skip={"net/parser.py"})  # a disk event while the buffer is open
    assert reader.symbols(["DraftParser"], 3)

    builder.reindex("net/parser.py")
    assert reader.symbols(["DraftParser"], 3) == []
    restored = reader.symbols(["ResponseParser"], 3)
    assert restored and not restored[0].overlay

    # overlays left by a crashed session are dropped at the next open
    builder.write_overlay("web/greeting.js", GREETING_JS + "\nexport function leftover() {}\n")
    reopened = open_index(str(tmp_path / "index"))
    assert reopened.store.overlay_paths() == []
    assert reader.symbols(["leftover"], 3) == []
