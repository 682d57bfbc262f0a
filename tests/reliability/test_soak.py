"""The soak in short form: 2 minutes of typing with completions against the embedded model while a script
edits, renames and deletes files (`benchmarks/soak.py --minutes 30` is the long form)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import soak

pytestmark = [pytest.mark.model, pytest.mark.e2e]


def test_two_minutes_of_typing_while_files_churn(tmp_path: Path) -> None:
    report = soak(2, tmp_path, rss_bound_mb=150, p95_factor=3.0)
    print({k: report[k] for k in ("requests_answered", "with_text", "stuck", "file_changes", "rss_mb", "latency_ms")})
    assert report["alive"] and report["stuck"] == 0  # no stuck request, the daemon serves to the end
    assert report["requests_answered"] > 0 and report["file_changes"] > 0
    assert report["checks"]["rss_bounded"] and report["checks"]["worker_rss_bounded"], report["rss_mb"]
    assert (tmp_path / "soak.json").exists()
