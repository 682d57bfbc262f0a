"""Deciding what to index (ignore files, built-in ignores, secrets, symlinks) and reading files safely."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer import files
from indexer.files import IgnoreRules, Skip, SourceText, is_ignore_file, iter_workspace_files, read_source


def _write(root: Path, rel: str, content: str | bytes = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _walk(root: Path, rules: IgnoreRules | None = None) -> set[str]:
    rules = rules or IgnoreRules(root)
    return {p.relative_to(root.resolve()).as_posix() for p in iter_workspace_files(root, rules)}


# ---- ignore rules -------------------------------------------------------------------------------------------


def test_nested_gitignores_apply_under_their_folder(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "*.log\n/private/\n")
    _write(tmp_path, "sub/.gitignore", "generated/\n!keep.log\n")
    for rel in (
        "app.log",
        "sub/keep.log",
        "sub/other.log",
        "sub/generated/x.py",
        "other/generated/x.py",
        "private/x.py",
        "sub/private/x.py",
        "main.py",
    ):
        _write(tmp_path, rel)
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored("app.log", False)
    assert not rules.is_ignored("sub/keep.log", False)  # the nested file re-includes it
    assert rules.is_ignored("sub/other.log", False)  # the root pattern reaches into sub/
    assert rules.is_ignored("sub/generated", True)
    assert rules.is_ignored("sub/generated/x.py", False)
    assert not rules.is_ignored("other/generated/x.py", False)  # sub's rules stay in sub/
    assert rules.is_ignored("private/x.py", False)
    assert not rules.is_ignored("sub/private/x.py", False)  # "/private/" is anchored to the root
    assert _walk(tmp_path) == {
        ".gitignore",
        "sub/.gitignore",
        "sub/keep.log",
        "other/generated/x.py",
        "sub/private/x.py",
        "main.py",
    }


def test_nothing_inside_an_ignored_folder_comes_back(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "vendor/\n!vendor/keep.py\n")
    _write(tmp_path, "vendor/keep.py")
    assert IgnoreRules(tmp_path).is_ignored("vendor/keep.py", False)  # as in git


def test_git_info_exclude_and_sragignore(tmp_path: Path) -> None:
    (tmp_path / ".git" / "info").mkdir(parents=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("scratch.py\n")
    _write(tmp_path, ".gitignore", "!scratch_keep.py\n")
    _write(tmp_path, ".sragignore", "docs/\n!build/\n*.gen.py\n!.git/\n")
    for rel in ("scratch.py", "docs/a.py", "build/tool.py", "dist/out.py", "x.gen.py", "src/ok.py", ".git/config"):
        _write(tmp_path, rel)
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored("scratch.py", False)
    assert rules.is_ignored("docs/a.py", False)
    assert not rules.is_ignored("build/tool.py", False)  # .sragignore re-includes a built-in ignore
    assert rules.is_ignored("dist/out.py", False)
    assert rules.is_ignored("x.gen.py", False)
    assert rules.is_ignored(".git", True) and rules.is_ignored(".git/config", False)  # always
    assert _walk(tmp_path) == {".gitignore", ".sragignore", "build/tool.py", "src/ok.py"}


def test_builtin_ignores(tmp_path: Path) -> None:
    for rel in (
        "node_modules/lib/index.js",
        ".venv/lib/site.py",
        "venv/lib/site.py",
        "pkg/__pycache__/m.cpython-311.pyc",
        "target/debug/main.rs",
        ".mypy_cache/x.py",
        ".idea/workspace.xml",
        "pkg.egg-info/PKG-INFO",
        "env/pyvenv.cfg",
        "env/lib/site.py",
        "myenv/pyvenv.cfg",
        "src/env/settings.py",  # a folder called env without pyvenv.cfg is source
        "src/main.py",
        "lib/helper.pyc",
    ):
        _write(tmp_path, rel)
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored("myenv", True) and rules.is_ignored("env", True)
    assert not rules.is_ignored("src/env", True)
    assert _walk(tmp_path) == {"src/env/settings.py", "src/main.py"}


@pytest.mark.parametrize(
    "rel",
    [
        ".env",
        ".env.local",
        "config/.env.production",
        "server.pem",
        "tls/private.key",
        "id_rsa",
        "id_rsa.pub",
        "keys/id_ed25519",
        "cert.p12",
        "cert.pfx",
        "credentials.json",
        "home/.netrc",
        ".npmrc",
        ".pypirc",
        "secrets.yaml",
    ],
)
def test_secrets_are_skipped_unless_asked_for(tmp_path: Path, rel: str) -> None:
    _write(tmp_path, rel, "token=abc\n")
    _write(tmp_path, "main.py")
    assert IgnoreRules(tmp_path).is_ignored(rel, False)
    assert IgnoreRules(tmp_path).is_secret(rel)
    assert _walk(tmp_path) == {"main.py"}
    assert IgnoreRules(tmp_path, index_secrets=True).is_ignored(rel, False) is False
    assert _walk(tmp_path, IgnoreRules(tmp_path, index_secrets=True)) == {"main.py", rel}


def test_path_forms(tmp_path: Path) -> None:
    _write(tmp_path, ".gitignore", "*.log\n")
    rules = IgnoreRules(tmp_path)
    assert rules.is_ignored("./logs/a.log", False)
    assert rules.is_ignored("logs\\a.log", False)
    assert rules.is_ignored("../outside.py", False)
    assert not rules.is_ignored("", True)  # the root itself
    assert not rules.is_ignored("src/a.py/", False)


def test_invalidate_picks_up_a_changed_gitignore(tmp_path: Path) -> None:
    _write(tmp_path, "a.py")
    rules = IgnoreRules(tmp_path)
    assert not rules.is_ignored("a.py", False)
    _write(tmp_path, ".gitignore", "a.py\n")
    assert is_ignore_file(".gitignore") and is_ignore_file("sub/.sragignore") and is_ignore_file(".git/info/exclude")
    assert not is_ignore_file("src/gitignore.py")
    rules.invalidate()
    assert rules.is_ignored("a.py", False)


# ---- walking -------------------------------------------------------------------------------------------------


def test_walk_does_not_enter_ignored_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """os.scandir is wrapped (it still lists the real folders) to record which folders the walk opens."""
    for rel in ("src/a.py", "node_modules/pkg/deep/x.js", "build/gen/y.py", "src/sub/b.py"):
        _write(tmp_path, rel)
    opened: list[str] = []
    real_scandir = os.scandir

    def recording_scandir(path: str | os.PathLike[str]) -> Iterator[os.DirEntry[str]]:
        opened.append(Path(path).resolve().relative_to(tmp_path.resolve()).as_posix())
        return real_scandir(path)

    monkeypatch.setattr(files.os, "scandir", recording_scandir)
    assert _walk(tmp_path) == {"src/a.py", "src/sub/b.py"}
    assert sorted(opened) == [".", "src", "src/sub"]


def test_symlink_loops_are_not_followed(tmp_path: Path) -> None:
    _write(tmp_path, "a/b/real.py")
    os.symlink("..", tmp_path / "a" / "b" / "up")  # a/b/up -> a
    os.symlink(".", tmp_path / "self")
    os.symlink("loop2", tmp_path / "loop1")
    os.symlink("loop1", tmp_path / "loop2")
    assert _walk(tmp_path) == {"a/b/real.py"}


def test_symlinks_out_of_the_workspace_are_not_followed(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    _write(outside, "leak.py", "SECRET = 1\n")
    _write(outside, "dir/also.py")
    _write(workspace, "src/real.py")
    os.symlink(outside / "leak.py", workspace / "leak.py")
    os.symlink(outside / "dir", workspace / "dir")
    os.symlink(workspace / "src" / "real.py", workspace / "alias.py")  # inside: kept
    os.symlink(workspace / "missing.py", workspace / "dangling.py")
    os.symlink(workspace / "src", workspace / "src_link")  # directory symlinks are never followed
    assert _walk(workspace) == {"src/real.py", "alias.py"}


# ---- reading -------------------------------------------------------------------------------------------------


def test_read_source_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "ok.py", "def f():\n    return 'é'\n")
    source = read_source(path, 1_000_000)
    assert isinstance(source, SourceText)
    assert source.text == "def f():\n    return 'é'\n" and not source.replaced
    assert source.size == len("def f():\n    return 'é'\n".encode())
    assert source.mtime_ns == path.stat().st_mtime_ns and len(source.sha1) == 40


def test_read_source_strips_a_utf8_bom(tmp_path: Path) -> None:
    source = read_source(_write(tmp_path, "bom.py", b"\xef\xbb\xbfx = 1\n"), 1000)
    assert isinstance(source, SourceText) and source.text == "x = 1\n"


def _skip(path: Path, max_bytes: int, caplog: pytest.LogCaptureFixture) -> str:
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="indexer.files"):
        result = read_source(path, max_bytes)
    assert isinstance(result, Skip), result
    lines = [r.getMessage() for r in caplog.records if r.name == "indexer.files"]
    assert lines == [f"skipped {path}: {result.reason}"]  # exactly one line, with path and reason
    return result.reason


def test_binary_file_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "blob.py", b"x = 1\n\x00\x01\x02binary")
    assert _skip(path, 1_000_000, caplog) == "binary"


def test_huge_file_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "huge.py", "x = 1\n" * 1000)
    assert _skip(path, 4096, caplog) == "too large (6000 bytes > 4096 cap)"


def test_non_utf8_is_decoded_with_replacement_and_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "latin.py", "name = 'café'\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING, logger="indexer.files"):
        source = read_source(path, 1000)
    assert isinstance(source, SourceText) and source.replaced
    assert source.text == "name = 'caf\ufffd'\n"
    assert any("not valid UTF-8" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_vanished_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path, "gone.py")
    path.unlink()
    assert _skip(path, 1000, caplog) == "vanished"


def test_directory_and_fifo_are_not_regular_files(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "folder.py").mkdir()
    assert _skip(tmp_path / "folder.py", 1000, caplog) == "not a regular file"
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    assert _skip(fifo, 1000, caplog) == "not a regular file"  # and it did not block


def test_permission_denied(caplog: pytest.LogCaptureFixture) -> None:
    """As root, chmod 000 does not stop reads: the read then runs in a forked child that drops to an
    unprivileged user (nobody) first, so the kernel really refuses it."""
    folder = Path(tempfile.mkdtemp(prefix="srag-perm-"))
    try:
        os.chmod(folder, 0o755)
        locked = _write(folder, "locked.py")
        readable = _write(folder, "open.py")
        os.chmod(locked, 0)
        os.chmod(readable, 0o644)
        if os.geteuid() != 0:
            assert _skip(locked, 1000, caplog) == "permission denied"
            return
        assert _read_as_nobody(readable) == "text"  # the unprivileged child can reach the folder
        assert _read_as_nobody(locked) == "permission denied"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_as_nobody(path: Path) -> str:
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 1
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            result = read_source(path, 1000)
            answer = "text" if isinstance(result, SourceText) else result.reason
            os.write(write_end, answer.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return answer


def test_generated_and_minified_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    minified = _write(tmp_path, "vendor.min.js", "var a=1;\n")
    assert _skip(minified, 100_000, caplog) == "generated/minified (minified file name)"
    bundle = _write(tmp_path, "bundle.js", "function a(){return 1};" * 400)
    assert _skip(bundle, 100_000, caplog).startswith("generated/minified (average line length")
    marked = _write(tmp_path, "parser.py", "# @generated by tool\nx = 1\n")
    assert _skip(marked, 100_000, caplog) == "generated/minified (marked as generated)"
    go = _write(tmp_path, "api.pb.go", "// Code generated by protoc-gen-go. DO NOT EDIT.\n\npackage api\n")
    assert _skip(go, 100_000, caplog) == "generated/minified (marked as generated)"
    normal = _write(tmp_path, "normal.js", "// generated code would say so\nconst a = 1;\n" * 200)
    assert isinstance(read_source(normal, 100_000), SourceText)
