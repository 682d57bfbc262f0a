"""A developer's daemon on a team's shared index (S3) against indexing everything locally, as today.

On a copy of the CPython standard library (``--big``: plus every package installed in this environment, about 6,200
Python files in all here), with a real S3 server on loopback (SeaweedFS, :mod:`benchmarks.seaweed`), with the
default settings:

- **CI's build**: ``srag-index build DIR --index-uri s3://...`` the first time; then after one commit that touches
  10 files, with CI's local staging cache kept and with a fresh one; the index's size on S3 against on disk.
- **First request**: from the start of a fresh process that runs the daemon's index worker (``IndexService``) and
  the daemon's reader (:class:`indexer.layered_query.LayeredReader`, or the local ``IndexReader``) until a
  retrieval can use the whole workspace: every one of ``--probes`` definitions, sampled across the workspace, is
  found by a symbol query (the time includes those queries, and importing LanceDB). On the shared index, the median
  of ``--repeat-first`` runs on a new machine (empty overlay), and one after a restart. Also when the worker's
  overlay is settled (its mask written) and its local copy of the shared table is complete.
- **Retrieval latency**: symbol, prefix and full-text queries, p50/p95, the shared reader (on the worker's local
  copy of the shared table, :mod:`indexer.shared_mirror`) against the local index; the same queries on S3 directly
  (a reader before the copy is complete); and the bytes each such query moves from S3 (through a counting TCP
  proxy), the first and the later ones (what LanceDB caches: indexes and metadata, not data pages).
- **Branch switch**: ``--changed`` files change at once (each gains a function); the time until the overlay
  (or the local index) holds them all, with the real file watcher, and how many files the overlay then holds.

Prints a table and writes ``benchmarks/results/shared_index.json`` (``shared_index_big.json``) and a PNG.

    .venv/bin/python -m benchmarks.bench_shared_index [--big] [--probes 30] [--queries 200] [--changed 50]
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from benchmarks.report import save  # noqa: E402
from benchmarks.seaweed import SeaweedServer, running_seaweed  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def copy_workspace(dest: Path, big: bool) -> int:
    ignore = shutil.ignore_patterns("site-packages", "dist-packages", "__pycache__", "*.pyc")
    shutil.copytree(Path(sysconfig.get_paths()["stdlib"]), dest, ignore=ignore, symlinks=True)
    if big:  # every package installed here, pure-Python files and all (this project's environment: about 4,400)
        site = Path(sysconfig.get_paths()["purelib"])
        for package in sorted(site.iterdir()):
            if package.is_dir() and not package.name.endswith((".dist-info", ".egg-info", "__pycache__")):
                shutil.copytree(package, dest / "_packages" / package.name, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.so", "*.so.*", "*.a"))
    return sum(1 for _ in dest.rglob("*.py"))


def sample_probes(root: Path, n: int, seed: int = 7) -> list[tuple[str, str]]:
    """(path, name) of top-level functions with names that occur once, spread over the workspace."""
    rng = random.Random(seed)
    files = sorted(root.rglob("*.py"))
    rng.shuffle(files)
    counts: dict[str, int] = {}
    found: list[tuple[str, str]] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                counts[node.name] = counts.get(node.name, 0) + 1
        names = [x.name for x in tree.body if isinstance(x, ast.FunctionDef) and len(x.name) > 6]
        if names and len(found) < n * 3:
            found.append((path.relative_to(root).as_posix(), rng.choice(names)))
    unique = [(p, name) for p, name in found if counts.get(name) == 1]
    return unique[:n]


def srag_index(*args: str, cache: Path, env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "indexer.cli", *args, "--json"], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, **env, "SRAG_CACHE_DIR": str(cache)}, timeout=3600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"srag-index {' '.join(args)} failed: {done.stderr[-2000:]}")
    return seconds, json.loads(done.stdout)


# -- the first request, in a fresh process ------------------------------------------------------------------
def phase_first(root: str, index_dir: str, uri: str, probes: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from indexer.writer import IndexService

    settings: dict[str, Any] = {"shared_index": uri, "shared_index_options": {"allow_http": "true"}} if uri else {}
    service = IndexService(root, index_dir, settings)
    service.start()
    reader: Any = None
    if uri:
        from indexer.layered_query import LayeredReader

        reader = LayeredReader(index_dir, uri, {"allow_http": "true"})
    whole_s = first_hit_s = None
    while time.perf_counter() - started < 600:
        if reader is None:
            from indexer.query import IndexReader

            reader = IndexReader.open(index_dir) if (Path(index_dir) / "chunks.lance").exists() else None
        if reader is not None:
            if first_hit_s is None and reader.symbols([probes[0]], 1):
                first_hit_s = time.perf_counter() - started  # one retrieval answered
            if all(reader.symbols([name], 1) for name in probes):
                whole_s = time.perf_counter() - started  # ...and every probe, wherever it is, found
                break
        time.sleep(0.05)
    service.wait_idle(600)
    settled_s = time.perf_counter() - started
    copy_s = None
    if uri:  # the worker's local copy of the shared table, which retrieval then reads
        while time.perf_counter() - started < 600:
            shared = service.status()["shared_index"]
            if shared["version"] and shared["local_copy"]["version"] == shared["version"]:
                copy_s = round(time.perf_counter() - started, 2)
                break
            time.sleep(0.05)
    status = service.status()
    service.stop()
    return {"whole_workspace_s": None if whole_s is None else round(whole_s, 2),
            "first_hit_s": None if first_hit_s is None else round(first_hit_s, 2), "settled_s": round(settled_s, 2),
            "local_copy_s": copy_s, "local_files": status["files"], "local_chunks": status["chunks"],
            "shared_index": status.get("shared_index")}


def run_first(root: Path, index_dir: Path, uri: str, probes: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--phase-first", str(root), str(index_dir), uri,
                           json.dumps(probes)], capture_output=True, text=True, env={**os.environ, **env},
                          timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"first-request phase failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- bytes from S3 per query ---------------------------------------------------------------------------------
class CountingProxy:
    """A TCP proxy to the S3 server that counts the bytes it passes each way (signatures stay valid: it relays
    the bytes as they are)."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.down = 0  # server -> client
        self.up = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, down: bool) -> None:
        try:
            while data := source.recv(65536):
                if down:
                    self.down += len(data)
                else:
                    self.up += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._listener.close()


QUERIES = {
    "symbol": lambda r, name: r.symbols([name], 10),
    "prefix": lambda r, name: r.symbol_prefix(name[:4], 20),
    "text": lambda r, name: r.text_search(name.replace("_", " "), 10),
}


def latencies(reader: Any, names: list[str]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for kind, ask in QUERIES.items():
        ask(reader, names[0])  # the handle open, as a running daemon has it
        ms = []
        for name in names:
            t0 = time.perf_counter()
            ask(reader, name)
            ms.append((time.perf_counter() - t0) * 1000)
        out[kind] = {"p50": round(_pct(ms, 0.5), 2), "p95": round(_pct(ms, 0.95), 2)}
    return out


def bytes_per_query(index_dir: Path, uri: str, server: SeaweedServer, names: list[str]) -> dict[str, Any]:
    from indexer.layered_query import LayeredReader

    proxy = CountingProxy(server.s3_port)
    try:
        options = {"allow_http": "true", "aws_endpoint": f"http://127.0.0.1:{proxy.port}"}
        reader = LayeredReader(str(index_dir), uri, options)
        out: dict[str, Any] = {}
        for kind, ask in QUERIES.items():
            before = proxy.down + proxy.up
            ask(reader, names[0])
            cold = proxy.down + proxy.up - before
            before = proxy.down + proxy.up
            for name in names[1:51]:
                ask(reader, name)
            warm = (proxy.down + proxy.up - before) / max(1, len(names[1:51]))
            out[kind] = {"first_query_bytes": cold, "later_query_bytes": round(warm)}
        reader.close()
        return out
    finally:
        proxy.close()


# -- a branch switch ------------------------------------------------------------------------------------------
def branch_switch(root: Path, index_dir: Path, uri: str, count: int, reader: Any) -> dict[str, Any]:
    from indexer.writer import IndexService

    settings: dict[str, Any] = {"shared_index": uri, "shared_index_options": {"allow_http": "true"}} if uri else {}
    service = IndexService(root, str(index_dir), settings)
    service.start()
    service.wait_idle(600)
    files = sorted(p for p in root.rglob("*.py") if p.stat().st_size < 200_000)
    chosen = random.Random(3).sample(files, count)
    names = []
    started = time.perf_counter()
    for i, path in enumerate(chosen):
        name = f"switched_branch_function_{i}"
        names.append(name)
        path.write_text(path.read_text(encoding="utf-8", errors="replace") + f"\n\ndef {name}():\n    return {i}\n")
    deadline = started + 600
    while time.perf_counter() < deadline and not all(reader.symbols([n], 1) for n in names):
        time.sleep(0.05)
    seen_s = time.perf_counter() - started
    service.wait_idle(600)
    status = service.status()
    service.stop()
    return {"files_changed": count, "all_searchable_s": round(seen_s, 2),
            "overlay_files": (status.get("shared_index") or {}).get("overlay_files"),
            "local_files": status["files"], "local_chunks": status["chunks"]}


def s3_size(server: SeaweedServer, bucket: str, prefix: str) -> int:
    import pyarrow.fs as pafs

    env = server.environment()
    fs = pafs.S3FileSystem(access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"],
                           endpoint_override=server.endpoint, scheme="http", region="us-east-1")
    infos = fs.get_file_info(pafs.FileSelector(f"{bucket}/{prefix}", recursive=True))
    return sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--phase-first":
        print(json.dumps(phase_first(sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", action="store_true", help="add every package of this environment (~6k files)")
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--repeat-first", type=int, default=3, help="first requests on the shared index (median)")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="srag-shared-bench-"))
    results: dict[str, Any] = {"settings": "defaults", "machine": f"{os.cpu_count()} cores"}
    try:
        ci = scratch / "ci" / "workspace"
        files = copy_workspace(ci, args.big)
        results["workspace"] = {"py_files": files, "big": args.big}
        probes = sample_probes(ci, args.probes)
        names = [name for _, name in sample_probes(ci, args.queries, seed=11)]
        with running_seaweed(scratch / "weed") as server:
            env = server.environment()
            os.environ.update(env)
            bucket = server.create_bucket("srag-bench")
            uri = f"s3://{bucket}/workspace"
            print(f"{files} files; CI builds to {uri} ...", flush=True)
            seconds, built = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true",
                                        cache=scratch / "ci-cache", env=env)
            results["ci_first_build_s"] = round(seconds, 1)
            results["shared"] = built["shared"]
            dev = scratch / "dev" / "workspace"
            shutil.copytree(ci, dev, symlinks=True)
            from indexer.shared_view import overlay_dir

            local_dir = scratch / "dev-index"
            shared_dir = Path(overlay_dir(str(local_dir), uri))
            probe_names = [name for _, name in probes]
            print("first request: shared index ...", flush=True)
            runs = []
            for i in range(args.repeat_first):  # each on an empty overlay, as on a new machine
                runs.append(run_first(dev, Path(f"{shared_dir}-run{i}"), uri, probe_names, env))
            runs.sort(key=lambda run: run["whole_workspace_s"] or 1e9)
            results["first_shared_runs"] = [run["whole_workspace_s"] for run in runs]
            results["first_shared"] = runs[len(runs) // 2]  # the median run
            results["first_shared_again"] = run_first(dev, shared_dir, uri, probe_names, env)  # fills shared_dir
            results["first_shared_again"] = run_first(dev, shared_dir, uri, probe_names, env)  # a restart
            print("first request: local build ...", flush=True)
            results["first_local"] = run_first(dev, local_dir, "", probe_names, env)
            from indexer.layered_query import LayeredReader
            from indexer.query import IndexReader

            shared_reader = LayeredReader(str(shared_dir), uri, {"allow_http": "true"})
            direct_reader = LayeredReader(str(scratch / "no-copy-yet"), uri, {"allow_http": "true"})
            local_reader = IndexReader.open(str(local_dir))
            print("retrieval latency ...", flush=True)
            results["latency_shared"] = latencies(shared_reader, names)
            assert shared_reader.describe()["reads"] == "local copy", shared_reader.describe()
            results["latency_shared_direct"] = latencies(direct_reader, names)
            results["latency_local"] = latencies(local_reader, names)
            results["s3_bytes"] = bytes_per_query(scratch / "bytes-no-copy", uri, server, names)
            print("branch switch ...", flush=True)
            results["switch_shared"] = branch_switch(dev, shared_dir, uri, args.changed, shared_reader)
            dev_local = scratch / "dev-local" / "workspace"
            shutil.copytree(ci, dev_local, symlinks=True)
            results["switch_local"] = branch_switch(dev_local, local_dir, "", args.changed, local_reader)
            results["s3_bytes_total"] = s3_size(server, bucket, "workspace")
            results["local_index_bytes"] = folder_size(local_dir)
            print("CI after a commit of 10 files ...", flush=True)
            for i, path in enumerate(sorted(ci.rglob("*.py"))[:: max(1, files // 10)][:10]):
                path.write_text(path.read_text(encoding="utf-8", errors="replace") + f"\n\ndef ci_commit_{i}():\n"
                                "    return 0\n")
            seconds, built = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true",
                                        cache=scratch / "ci-cache", env=env)
            results["ci_incremental_kept_cache_s"] = round(seconds, 1)
            results["ci_incremental_written_files"] = built["shared"]["written_files"]
            seconds, built = srag_index("build", str(ci), "--index-uri", uri, "--storage-option", "allow_http=true",
                                        cache=scratch / "ci-cache-fresh", env=env)
            results["ci_incremental_fresh_cache_s"] = round(seconds, 1)
            shared_reader.close()
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(results)
    save("shared_index_big" if args.big else "shared_index", results, lambda p: draw(results, p))


def print_table(r: dict[str, Any]) -> None:
    fs, fl = r["first_shared"], r["first_local"]
    print(f"local copy: {fs['shared_index']['local_copy']}")
    rows = [
        ("workspace", f"{r['workspace']['py_files']} files", ""),
        ("first request: whole workspace searchable (s)", fs["whole_workspace_s"], fl["whole_workspace_s"]),
        ("first request: first probe answered (s)", fs["first_hit_s"], fl["first_hit_s"]),
        ("first request: runs (s)", " ".join(str(x) for x in r["first_shared_runs"]), ""),
        ("first request after a restart (s)", r["first_shared_again"]["whole_workspace_s"], "-"),
        ("first request: worker settled (s)", fs["settled_s"], fl["settled_s"]),
        ("first request: local copy of the shared table complete (s)", fs["local_copy_s"], "-"),
        ("local rows after start (files / chunks)", f"{fs['local_files']} / {fs['local_chunks']}",
         f"{fl['local_files']} / {fl['local_chunks']}"),
    ]
    for kind in QUERIES:
        s, loc = r["latency_shared"][kind], r["latency_local"][kind]
        rows.append((f"{kind} query p50 / p95 (ms)", f"{s['p50']} / {s['p95']}", f"{loc['p50']} / {loc['p95']}"))
    for kind in QUERIES:
        d = r["latency_shared_direct"][kind]
        rows.append((f"{kind} query p50 / p95 (ms), S3 directly (no copy yet)", f"{d['p50']} / {d['p95']}", "-"))
    for kind, b in r["s3_bytes"].items():
        rows.append((f"{kind} query: bytes from S3, first / later", f"{b['first_query_bytes']} / "
                     f"{b['later_query_bytes']}", "0"))
    ss, sl = r["switch_shared"], r["switch_local"]
    rows += [
        (f"branch switch: {ss['files_changed']} files searchable (s)", ss["all_searchable_s"], sl["all_searchable_s"]),
        ("branch switch: overlay files after", ss["overlay_files"], "-"),
        ("index size (MB): S3 / local disk", round(r["s3_bytes_total"] / 1e6, 1),
         round(r["local_index_bytes"] / 1e6, 1)),
        ("CI first build to S3 (s)", r["ci_first_build_s"], "-"),
        ("CI after a 10-file commit, staging cache kept / fresh (s)",
         f"{r['ci_incremental_kept_cache_s']} / {r['ci_incremental_fresh_cache_s']}",
         f"({r['ci_incremental_written_files']} files written)"),
    ]
    print(f"\n{'':58} {'shared index (S3)':>20} {'local index (today)':>22}")
    for name, shared, local in rows:
        print(f"{name:58} {shared!s:>20} {local!s:>22}")
    print("settings: the defaults; the S3 server is SeaweedFS on loopback (no network latency)")


def draw(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    labels = ["first request", "branch switch"]
    shared = [r["first_shared"]["whole_workspace_s"] or 0, r["switch_shared"]["all_searchable_s"]]
    local = [r["first_local"]["whole_workspace_s"] or 0, r["switch_local"]["all_searchable_s"]]
    x = range(len(labels))
    a.bar([i - 0.2 for i in x], shared, 0.4, label="shared index (S3)")
    a.bar([i + 0.2 for i in x], local, 0.4, label="local index")
    a.set_xticks(list(x), labels)
    a.set_ylabel("seconds")
    a.legend()
    kinds = list(QUERIES)
    b.bar([i - 0.27 for i in range(3)], [r["latency_shared"][k]["p95"] for k in kinds], 0.27,
          label="shared (local copy)")
    b.bar(list(range(3)), [r["latency_shared_direct"][k]["p95"] for k in kinds], 0.27, label="shared (S3 directly)")
    b.bar([i + 0.27 for i in range(3)], [r["latency_local"][k]["p95"] for k in kinds], 0.27, label="local")
    b.set_xticks(range(3), kinds)
    b.set_ylabel("p95 ms")
    b.legend()
    fig.suptitle(f"shared index: {r['workspace']['py_files']} files")
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
