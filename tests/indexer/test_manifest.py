"""The manifest: restarts re-index only what changed; a schema, language-table or manifest problem rebuilds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from indexer import manifest as manifest_module
from indexer.build_options import BuildOptions
from indexer.builder import IndexBuilder
from indexer.manifest import FileRecord, Manifest, ManifestError, load_manifest, manifest_path, save_manifest
from indexer.opening import open_index
from indexer.query import IndexReader
from tests.support.indexing import SHAPES_PY, chunks_of, small_workspace


def _build(root: Path, index_dir: Path, **options: object):
    opened = open_index(str(index_dir))
    builder = IndexBuilder(root, opened, BuildOptions(**options))  # type: ignore[arg-type]
    return opened, builder, builder.build()


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    return small_workspace(tmp_path / "ws"), tmp_path / "index"


def test_roundtrip_and_atomic_save(tmp_path: Path) -> None:
    path = tmp_path / "manifest.msgpack"
    assert load_manifest(path) is None
    manifest = Manifest(languages="abc", complete=True, files={"a.py": FileRecord(10, 20, "h", ["c1", "c2"])})
    save_manifest(path, manifest)
    assert load_manifest(path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.msgpack"]  # no temporary file left behind


@pytest.mark.parametrize("garbage", [b"", b"\xc1\xc1\xc1", b"\x93\x01\x02\x03", b"\x81\xa6format\x07"])
def test_unreadable_manifest_raises_manifest_error(tmp_path: Path, garbage: bytes) -> None:
    path = tmp_path / "manifest.msgpack"
    path.write_bytes(garbage)
    with pytest.raises(ManifestError):
        load_manifest(path)


def test_warm_restart_reindexes_nothing(workspace: tuple[Path, Path]) -> None:
    root, index_dir = workspace
    opened, _, first = _build(root, index_dir)
    assert first.indexed == 3 and first.chunks_written > 0
    version = opened.store.version()

    reopened, _, second = _build(root, index_dir)
    assert reopened.rebuilt is None
    assert (second.indexed, second.chunks_written, second.removed, second.unchanged) == (0, 0, 0, 3)
    assert reopened.store.version() == version  # not a single write


def test_only_the_changed_file_is_reindexed(workspace: tuple[Path, Path]) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    (root / "shapes.py").write_text(SHAPES_PY + "\n\ndef square_area(side):\n    return side * side\n")
    os.utime(root / "net" / "parser.py")  # touched, content unchanged: hashed, not re-chunked

    opened, _, report = _build(root, index_dir)
    assert report.indexed == 1
    assert report.unchanged == 2
    reader = IndexReader.open(str(index_dir))
    assert reader is not None and [h.path for h in reader.symbols(["square_area"], 3)] == ["shapes.py"]
    record = opened.manifest.files["net/parser.py"]
    assert record.mtime_ns == (root / "net" / "parser.py").stat().st_mtime_ns  # the new stat is remembered

    _, _, again = _build(root, index_dir)
    assert again.indexed == 0 and again.unchanged == 3


def test_deleted_and_renamed_files_leave_the_index(workspace: tuple[Path, Path]) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    (root / "web" / "greeting.js").unlink()
    (root / "net" / "parser.py").rename(root / "net" / "http_parser.py")
    opened, _, report = _build(root, index_dir)
    assert report.removed == 2 and report.indexed == 1
    assert set(opened.manifest.files) == {"shapes.py", "net/http_parser.py"}
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    assert reader.by_path("web/greeting.js") == [] and reader.by_path("net/parser.py") == []
    assert [h.path for h in reader.symbols(["ResponseParser"], 3)] == ["net/http_parser.py"]


def test_schema_version_change_rebuilds(workspace: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    monkeypatch.setattr(manifest_module, "SCHEMA_VERSION", manifest_module.SCHEMA_VERSION + 1)
    opened, _, report = _build(root, index_dir)
    assert opened.rebuilt is not None and "schema version changed" in opened.rebuilt
    assert report.indexed == 3
    assert opened.store.count_rows() == opened.manifest.chunk_count()  # nothing left from before


def test_language_table_change_rebuilds(workspace: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    import indexer.opening as opening_module

    monkeypatch.setattr(opening_module, "language_fingerprint", lambda: "a-different-table")
    opened, _, report = _build(root, index_dir)
    assert opened.rebuilt == "the language table changed"
    assert report.indexed == 3


def test_corrupt_manifest_rebuilds(workspace: tuple[Path, Path], caplog: pytest.LogCaptureFixture) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    manifest_path(index_dir).write_bytes(b"\x00\x01 not msgpack \xff")
    with caplog.at_level("WARNING", logger="indexer.opening"):
        opened, _, report = _build(root, index_dir)
    assert opened.rebuilt is not None and "unreadable" in opened.rebuilt
    assert any("rebuilding the index" in r.getMessage() for r in caplog.records)
    assert report.indexed == 3
    assert opened.store.count_rows() == opened.manifest.chunk_count()


def test_missing_manifest_with_a_full_table_rebuilds(workspace: tuple[Path, Path]) -> None:
    root, index_dir = workspace
    _build(root, index_dir)
    manifest_path(index_dir).unlink()
    opened, _, report = _build(root, index_dir)
    assert opened.rebuilt == "the manifest is missing"
    assert report.indexed == 3 and opened.store.count_rows() == opened.manifest.chunk_count()


def test_rows_the_manifest_does_not_know_are_removed(workspace: tuple[Path, Path]) -> None:
    """A crash between a table write and the manifest save leaves rows of an unrecorded file."""
    root, index_dir = workspace
    opened, _, _ = _build(root, index_dir)
    opened.store.replace([], chunks_of("ghost.py", "def ghost():\n    pass\n"))
    reopened, _, report = _build(root, index_dir)
    assert reopened.rebuilt is None
    reader = IndexReader.open(str(index_dir))
    assert reader is not None and reader.symbols(["ghost"], 3) == []
    assert reopened.store.count_rows() == reopened.manifest.chunk_count()
    assert report.indexed == 0
