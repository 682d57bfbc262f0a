"""Hostile workspaces: does indexing finish (or skip with a log line), and how much memory does it take?

Each case makes a workspace, then indexes it the way a user does: `srag-index build DIR --json` in a child
process (its peak RSS, pool processes included, comes from wait4), or, for the branch switch, the daemon's
index worker following a checkout that rewrites thousands of files (its peak RSS from /proc VmHWM).

Cases: binary files with source extensions, invalid UTF-8, a 50 MB single-line minified file, many tiny files
(100k here, 10k in CI), deeply nested syntax and folders, symlink loops and links out of the workspace,
unreadable files (as an unprivileged user when run as root), files deleted while the build lists and reads
them, and a branch switch touching 5,000 files.

    .venv/bin/python -m benchmarks.bench_hostile [--tiny-files 100000] [--only NAME ...]

prints a table and writes ``benchmarks/results/hostile.json``. ``tests/reliability/test_hostile_workspaces.py``
runs the same cases at CI sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "hostile.json"
CLI = [sys.executable, "-m", "indexer.cli"]


@dataclass
class CaseResult:
    case: str
    outcome: str  # "finished" or what went wrong
    seconds: float
    peak_rss_mb: float
    files_total: int = 0
    indexed: int = 0
    skipped: int = 0
    errors: int = 0
    notes: list[str] = field(default_factory=list)
    log_tail: list[str] = field(default_factory=list)


@dataclass
class Sizes:
    tiny_files: int = 100_000
    minified_mb: int = 50
    branch_files: int = 5_000
    deleted_files: int = 4_000


CI_SIZES = Sizes(tiny_files=10_000, minified_mb=50, branch_files=5_000, deleted_files=2_000)


# ---- running a build --------------------------------------------------------------------------------------------


def _tree_hwm_kb(pid: int) -> int:
    """The largest VmHWM (peak resident memory since exec) of ``pid`` and its descendants; 0 once it is gone."""
    peak = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
            for task in Path(f"/proc/{current}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (OSError, ValueError):
            continue
    return peak


def run_build(
    root: Path,
    index_dir: Path,
    *,
    user: str | None = None,
    during: Callable[[], None] | None = None,
    timeout: float = 1800,
) -> tuple[dict[str, Any] | None, float, float, str]:
    """`srag-index build ROOT --json -v` in a child: (report, seconds, peak RSS in MB, stderr)."""
    command = [*CLI, "build", str(root), "--index-dir", str(index_dir), "--json", "-v"]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={pwd.getpwnam(user).pw_gid}", "--clear-groups", *command]
    env = {**os.environ, "PYTHONPATH": str(REPO), "SRAG_CACHE_DIR": str(index_dir.parent / "cache")}
    out_file = tempfile.TemporaryFile()
    err_file = tempfile.TemporaryFile()
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=out_file, stderr=err_file, env=env, cwd=REPO)
    if during is not None:
        threading.Thread(target=during, daemon=True).start()
    deadline = time.monotonic() + timeout
    peak_kb = 0
    while True:
        peak_kb = max(peak_kb, _tree_hwm_kb(process.pid))
        pid, status, _ = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            process.kill()
            pid, status, _ = os.wait4(process.pid, 0)
            break
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - started
    out_file.seek(0)
    err_file.seek(0)
    stdout = out_file.read().decode("utf-8", "replace")
    stderr = err_file.read().decode("utf-8", "replace")
    report = None
    if process.returncode == 0:
        try:
            report = json.loads(stdout)
        except ValueError:
            report = None
    # The peak of the build's own memory (VmHWM, after exec) and its pool processes', read while it runs. Not
    # ru_maxrss: a child's count starts from its fork, when it maps all of this (test) process's memory.
    peak_mb = peak_kb / 1024
    if process.returncode != 0:
        stderr += f"\n(exit code {process.returncode})"
    return report, seconds, peak_mb, stderr


def _result(case: str, report: dict[str, Any] | None, seconds: float, peak: float, stderr: str) -> CaseResult:
    lines = [line for line in stderr.splitlines() if line.strip()]
    result = CaseResult(case, "finished" if report is not None else "failed", round(seconds, 2), round(peak, 1))
    if report is not None:
        result.files_total = int(report.get("files_total", 0))
        result.indexed = int(report.get("indexed", 0))
        result.skipped = int(report.get("skipped", 0))
        result.errors = int(report.get("errors", 0))
    result.log_tail = [line[-200:] for line in lines if "skipped" in line or "WARNING" in line or "ERROR" in line][
        -8:
    ]
    if report is None:
        result.log_tail += lines[-5:]
    return result


def write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data)


def _plain(root: Path, count: int = 3) -> None:
    for i in range(count):
        write(root / f"ok_{i}.py", f"def ordinary_{i}(x):\n    return x + {i}\n")


# ---- the cases ---------------------------------------------------------------------------------------------------


def case_binary(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    _plain(root)
    rng = random.Random(1)
    for i, ext in enumerate([".py", ".js", ".ts", ".go", ".rs", ".java", ".c", ".cpp"] * 5):
        write(root / f"bin/blob_{i}{ext}", bytes(rng.getrandbits(8) for _ in range(20_000)) + b"\x00" * 16)
    write(root / "bin/elf.py", b"\x7fELF\x02\x01\x01\x00" + os.urandom(4096))
    result = _result("binary files with source extensions", *run_build(root, work / "index"))
    result.notes.append("41 binary files")
    return result


def case_invalid_utf8(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    _plain(root)
    for i in range(20):
        write(root / f"latin/mod_{i}.py", f"def f_{i}():\n    return '".encode() + b"caf\xe9 \xff\xfe\xc3" + b"'\n")
    write(root / "latin/half.py", b"def half():\n    return '\xf0\x9f\x98'\n")  # a cut 4-byte sequence
    return _result("invalid UTF-8", *run_build(root, work / "index"))


def case_minified(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    _plain(root)
    unit = "var a=function(b){return b*2};" * 1000
    with open(root / "app.min.js", "w") as handle:  # sizes.minified_mb MB, one line
        for _ in range(sizes.minified_mb * 1024 * 1024 // len(unit)):
            handle.write(unit)
    write(root / "bundle.js", "x=1;" * 200_000)  # 800 kB, one line, no telling name: under the size cap
    result = _result(f"a {sizes.minified_mb} MB single-line minified file", *run_build(root, work / "index"))
    return result


def case_tiny_files(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    for i in range(sizes.tiny_files):
        folder = root / f"d{i % 100}" / f"e{(i // 100) % 50}"
        if i < 5000:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"t{i}.py").write_text(f"X{i} = {i}\n")
    return _result(f"{sizes.tiny_files:,} tiny files", *run_build(root, work / "index"))


def case_deep_nesting(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    _plain(root)
    write(root / "deep/parens.py", "x = " + "(\n" * 5_000 + "1" + "\n)" * 5_000 + "\n")  # 5,000 levels deep
    write(root / "deep/lists.js", "const x = " + "[\n" * 5_000 + "\n]" * 5_000 + ";\n")
    write(root / "deep/one_line.py", "x = " + "(" * 20_000 + "1" + ")" * 20_000 + "\n")  # and on one line
    write(root / "deep/unclosed.py", "def f(:\n" + "    if (\n" * 3000)
    body = "".join("    " * i + f"if x{i}:\n" for i in range(1, 90)) + "    " * 90 + "pass\n"
    write(root / "deep/blocks.py", "def nested(x1):\n" + body)
    folder = root
    for i in range(200):  # 200 folders deep
        folder = folder / f"n{i}"
    write(folder / "bottom.py", "def at_the_bottom():\n    return 0\n")
    result = _result("deeply nested syntax and folders", *run_build(root, work / "index"))
    return result


def case_symlinks(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    outside = work / "outside"
    write(outside / "secret_lib.py", "def outside_the_workspace():\n    return 1\n")
    _plain(root)
    (root / "loop_self").symlink_to(root)  # a folder link to the workspace itself
    (root / "a").mkdir()
    (root / "a" / "b").symlink_to(root / "a")  # a -> b -> a
    (root / "x.py").symlink_to(root / "y.py")  # x -> y -> x: a file loop
    (root / "y.py").symlink_to(root / "x.py")
    (root / "out_dir").symlink_to(outside)
    (root / "out_file.py").symlink_to(outside / "secret_lib.py")
    (root / "etc").symlink_to("/etc")
    (root / "dangling.py").symlink_to(root / "missing.py")
    (root / "inside_link.py").symlink_to(root / "ok_0.py")
    index_dir = work / "index"
    result = _result("symlink loops and links out of the workspace", *run_build(root, index_dir))
    from indexer.query import IndexReader

    reader = IndexReader.open(str(index_dir))
    outside_hits = reader.symbols(["outside_the_workspace"], 3) if reader is not None else []
    result.notes.append(f"symbols from outside the workspace in the index: {len(outside_hits)}")
    if outside_hits:
        result.outcome = "followed a link out of the workspace"
    return result


def case_unreadable(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    _plain(root)
    for i in range(10):
        write(root / f"locked/private_{i}.py", f"def private_{i}():\n    pass\n")
        os.chmod(root / f"locked/private_{i}.py", 0)
    write(root / "closed/inner.py", "def inner():\n    pass\n")
    os.chmod(root / "closed", 0)
    user = None
    note = "run as the current user"
    if os.geteuid() == 0:  # root reads everything: build as an unprivileged user instead
        user = "nobody"
        for path in (work, root, root / "locked"):
            os.chmod(path, 0o777)
        for path in [*root.rglob("ok_*.py")]:
            os.chmod(path, 0o644)
        note = "run as nobody (root ignores file permissions)"
    try:
        result = _result("unreadable files and folders", *run_build(root, work / "index", user=user))
    finally:
        os.chmod(root / "closed", 0o755)
    result.notes.append(note)
    return result


def case_deleted_while_reading(work: Path, sizes: Sizes) -> CaseResult:
    root = work / "ws"
    count = sizes.deleted_files
    for i in range(count):
        write(root / f"churn/m{i}.py", f"def churn_{i}():\n    return {i}\n" + "# filler\n" * 40)
    paths = sorted((root / "churn").iterdir())
    rng = random.Random(3)
    rng.shuffle(paths)

    index_dir = work / "index"

    def delete_some() -> None:
        deadline = time.monotonic() + 120
        while not (index_dir / "chunks.lance").exists() and time.monotonic() < deadline:
            time.sleep(0.01)  # the build has opened its index: it lists, then reads, from now on
        for path in paths[: count // 2]:
            path.unlink(missing_ok=True)
            time.sleep(0.0005)

    result = _result("files deleted between listing and reading", *run_build(root, index_dir, during=delete_some))
    result.notes.append(f"{count // 2} of {count} files deleted while the build ran")
    return result


def case_branch_switch(work: Path, sizes: Sizes) -> CaseResult:
    """The index worker follows a checkout that rewrites, adds and deletes files (5,000 in all)."""
    sys.path.insert(0, str(REPO))
    from indexer.client import IndexClient
    from indexer.query import IndexReader

    root = work / "ws"
    count = sizes.branch_files
    for i in range(count):
        write(root / f"pkg{i % 50}/m{i}.py", f"def main_{i}(x):\n    return x + {i}\n")
    index_dir = work / "index"

    async def run() -> CaseResult:
        client = IndexClient(backoff_s=(0.2,))
        events: list[dict[str, Any]] = []
        await client.start(root, str(index_dir), {}, on_event=events.append)
        try:
            await _until(lambda: _built(client), 600)
            started = time.perf_counter()
            # the "checkout": 4,000 files rewritten, 500 deleted, 500 added (5,000 touched)
            for i in range(count):
                path = root / f"pkg{i % 50}/m{i}.py"
                if i % 10 == 0:
                    path.unlink()
                    write(root / f"pkg{i % 50}/new{i}.py", f"def branch_new_{i}(x):\n    return x * {i}\n")
                else:
                    path.write_text(f"def branch_{i}(x):\n    return x - {i}\n")
            reader = IndexReader.open(str(index_dir))
            assert reader is not None
            probes = [f"branch_{i}" for i in range(1, count, 97) if i % 10] + [f"branch_new_{i}" for i in (0, 10)]

            async def caught_up() -> bool:
                status = await client.status(timeout=10)
                done = status.get("pending") == 0 and status.get("files") == count
                return done and all(reader.symbols([p], 1) for p in probes) and not reader.symbols(["main_1"], 1)

            await _until(caught_up, 900)
            seconds = time.perf_counter() - started
            peak = _vm_hwm_mb(client.pid)
            status = await client.status(timeout=10)
            result = CaseResult(
                f"a branch switch touching {count:,} files (worker)",
                "finished",
                round(seconds, 2),
                round(peak, 1),
                files_total=int(status.get("files", 0)),
            )
            result.notes.append("seconds: from the checkout to an index that has every change")
            return result
        finally:
            await client.stop()

    return asyncio.run(run())


async def _built(client: Any) -> bool:
    status = await client.status(timeout=10)
    return bool(status.get("initial_build_done")) and status.get("pending") == 0


async def _until(probe: Callable[[], Any], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"not done within {timeout}s")


def _vm_hwm_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


CASES: dict[str, Callable[[Path, Sizes], CaseResult]] = {
    "binary": case_binary,
    "invalid_utf8": case_invalid_utf8,
    "minified": case_minified,
    "tiny_files": case_tiny_files,
    "deep_nesting": case_deep_nesting,
    "symlinks": case_symlinks,
    "unreadable": case_unreadable,
    "deleted_while_reading": case_deleted_while_reading,
    "branch_switch": case_branch_switch,
}


def run_case(name: str, sizes: Sizes, base: Path | None = None) -> CaseResult:
    work = Path(tempfile.mkdtemp(prefix=f"hostile-{name}-", dir=base))
    try:
        return CASES[name](work, sizes)
    finally:
        for path in work.rglob("*"):  # unreadable leftovers must not stop the clean-up
            try:
                if not path.is_symlink():
                    os.chmod(path, 0o755)
            except OSError:
                pass
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny-files", type=int, default=Sizes.tiny_files)
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    args = parser.parse_args(argv)
    sizes = Sizes(tiny_files=args.tiny_files)
    results = []
    for name in args.only or list(CASES):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_case(name, sizes))
    header = (
        f"{'case':<52} {'outcome':<10} {'s':>8} {'peak RSS MB':>12} {'files':>8} {'indexed':>8} {'skipped':>8} "
        f"{'errors':>7}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.case:<52} {r.outcome:<10} {r.seconds:>8.1f} {r.peak_rss_mb:>12.0f} {r.files_total:>8} "
            f"{r.indexed:>8} {r.skipped:>8} {r.errors:>7}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    if RESULTS.exists() and args.only:  # a partial run updates its cases only
        previous = {c["case"]: c for c in json.loads(RESULTS.read_text()).get("cases", [])}
    else:
        previous = {}
    previous.update({r.case: asdict(r) for r in results})
    RESULTS.write_text(
        json.dumps(
            {
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
                "cases": list(previous.values()),
            },
            indent=2,
        )
        + "\n"
    )
    return 0 if all(r.outcome == "finished" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
