"""Hostile workspaces, indexed as a user does (`srag-index build` in a child process, the worker for a branch
switch): each finishes, skips what it must with a log line, and never follows a link out of the workspace.

The cases and their sizes are those of `benchmarks/bench_hostile.py`, smaller where CI time asks for it
(10,000 tiny files here, 100,000 in the benchmark). Peak RSS is printed per case (run with -s).
"""

from __future__ import annotations

import os

import pytest

from benchmarks.bench_hostile import CI_SIZES, CaseResult, run_case


def _run(name: str) -> CaseResult:
    result = run_case(name, CI_SIZES)
    print(f"{result.case}: {result.outcome} in {result.seconds:.1f}s, peak RSS {result.peak_rss_mb:.0f} MB")
    assert result.outcome == "finished", result
    assert result.errors == 0, result
    return result


def test_binary_files_with_source_extensions_are_skipped() -> None:
    result = _run("binary")
    assert (result.indexed, result.skipped) == (3, 41)
    assert any("binary" in line for line in result.log_tail)


def test_invalid_utf8_is_indexed_with_replacement_and_a_warning() -> None:
    result = _run("invalid_utf8")
    assert result.indexed == 24
    assert any("not valid UTF-8" in line for line in result.log_tail)


def test_a_50_mb_single_line_file_is_skipped_without_reading_it_whole() -> None:
    result = _run("minified")
    assert result.indexed == 3 and result.skipped == 2  # the 50 MB file (too large) and an 800 kB one-liner
    assert result.peak_rss_mb < 1000  # the 50 MB file was never read into memory (a build is about 200 MB)


def test_many_tiny_files() -> None:
    result = _run("tiny_files")
    assert result.indexed == CI_SIZES.tiny_files


def test_deeply_nested_syntax_and_folders() -> None:
    result = _run("deep_nesting")
    assert result.indexed >= 5  # plain files, the nested blocks, the file 200 folders down; the rest skipped


def test_symlink_loops_and_links_out_of_the_workspace_are_not_followed() -> None:
    result = _run("symlinks")
    assert result.notes == ["symbols from outside the workspace in the index: 0"]
    assert result.indexed == 4  # three plain files and the link to one of them


@pytest.mark.skipif(os.geteuid() == 0 and not os.path.exists("/usr/bin/setpriv"), reason="needs setpriv as root")
def test_unreadable_files_and_folders_are_skipped_with_a_warning() -> None:
    result = _run("unreadable")
    assert result.indexed == 3 and result.skipped == 10
    assert any("permission denied" in line for line in result.log_tail)


def test_files_deleted_while_the_build_reads_them() -> None:
    result = _run("deleted_while_reading")
    assert result.indexed + result.skipped <= CI_SIZES.deleted_files


def test_a_branch_switch_touching_5000_files() -> None:
    result = _run("branch_switch")
    assert result.files_total == CI_SIZES.branch_files
