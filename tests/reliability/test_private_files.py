"""Files on disk are private: the index folder is 0700, request traces 0600 in a 0700 folder, and traces
hold figures, never the text of the files being edited."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from indexer.build_options import BuildOptions
from indexer.builder import IndexBuilder
from indexer.opening import open_index
from srag_lsp.trace import RequestTrace, Tracer


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_index_folder_is_private(tmp_path: Path) -> None:
    root, index_dir = tmp_path / "ws", tmp_path / "cache" / "index"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    IndexBuilder(root, open_index(str(index_dir)), BuildOptions(processes=1)).build()
    assert _mode(index_dir) == 0o700
    os.chmod(index_dir, 0o755)  # a folder left with looser rights is tightened when the index opens it
    open_index(str(index_dir))
    assert _mode(index_dir) == 0o700


def test_traces_are_private_files_in_a_private_folder(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        folder = tmp_path / "traces"
        tracer = Tracer(folder)
        tracer.finish(RequestTrace(id="1", uri="file:///w/a.py", version=1, line=3, col=4, strategy="streaming"))
        assert _mode(folder) == 0o700 and _mode(folder / "trace.jsonl") == 0o600
        # a trace file written by an older version with 0644 is made private when the tracer starts
        os.chmod(folder / "trace.jsonl", 0o644)
        os.chmod(folder, 0o755)
        Tracer(folder)
        assert _mode(folder) == 0o700 and _mode(folder / "trace.jsonl") == 0o600
    finally:
        os.umask(old_umask)


def test_a_trace_record_has_no_field_for_file_text(tmp_path: Path) -> None:
    """What a trace can hold: ids, the position, timings, counts and flags; no prompt, no buffer text."""
    tracer = Tracer(tmp_path)
    trace = RequestTrace(id="7", uri="file:///w/a.py", version=2, line=1, col=2, strategy="streaming")
    trace.mark("first_visible")
    trace.add("prompt_tokens", 120)
    tracer.finish(trace)
    record = json.loads((tmp_path / "trace.jsonl").read_text().splitlines()[0])
    assert set(record) == {
        "id", "uri", "version", "line", "col", "strategy", "backend", "model", "started_at",
        "events", "sources", "numbers", "flags", "refinements",
    }  # fmt: skip
    assert all(isinstance(v, (int, float)) for v in (*record["events"].values(), *record["numbers"].values()))
