"""How fast the index is built, restarted, kept fresh and queried, on a copy of the CPython standard library.

Copies ``sysconfig.get_paths()['stdlib']`` (without ``site-packages`` and caches) to a temporary workspace,
then measures, each phase in the process that really does the work:

- cold build (no embeddings): seconds, files/s, chunks, peak RSS of the builder and of its pool processes;
- warm restart with nothing changed: the build call alone and the whole command (process start included);
- save-to-searchable latency over N edits (a new function written into a file, timed until a symbol query
  finds it) with the real watcher and worker process running (``indexer.client.IndexClient``);
- query latency (symbol, prefix, full text) p50/p95 from a reader in this process;
- table versions and fragments after 500 saves with compaction running (and after it has gone idle);
- peak RSS of the worker process and of this (reader) process.

With ``--embeddings local`` (the local ONNX model; see indexer/embedding), also, in a process of its own
that runs the writer's embedding code (:class:`indexer.embedding.background.BackgroundEmbedder`):

- embedding throughput over the first ``--embed-limit`` chunk texts (the whole library, 65k chunks, would
  take the better part of an hour on one core), and that process's peak RSS;
- query embedding time, and vector query latency (the search plus the join to chunk rows) p50/p95 by brute
  force and with the IVF_FLAT index, with recall@10 of the index against brute force;
- the same at the library's full size (``--vector-scale``, default 65,000 rows): the real vectors plus noisy
  copies of them in a scratch table (synthetic, said so in the table), to see the index where it matters;

and the live phases run with the worker embedding in the background (its RSS includes the model, and the
save-to-searchable figures are taken while it embeds).

Prints a table and writes ``benchmarks/results/index.json`` (``index_embeddings.json`` with embeddings).

    .venv/bin/python benchmarks/bench_index.py [--edits 100] [--saves 500] [--queries 300] [--keep]
        [--embeddings local] [--embed-limit 5000] [--vector-scale 65000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RESULTS = Path(__file__).resolve().parent / "results" / "index.json"
RESULTS_EMBEDDINGS = RESULTS.with_name("index_embeddings.json")
EDIT_TARGET = "textwrap.py"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _rss_mb(kb: int) -> float:
    return round(kb / 1024, 1)


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def copy_stdlib(dest: Path) -> tuple[int, int]:
    source = Path(sysconfig.get_paths()["stdlib"])
    ignore = shutil.ignore_patterns("site-packages", "dist-packages", "__pycache__", "*.pyc")
    shutil.copytree(source, dest, ignore=ignore, symlinks=True)
    files = list(dest.rglob("*.py"))
    lines = 0
    for path in files:
        with open(path, "rb") as handle:
            lines += handle.read().count(b"\n")
    return len(files), lines


# -- phases that run in their own process ---------------------------------------------------------------
def phase_build(root: str, index_dir: str) -> dict[str, Any]:
    """Runs in a child process: one build (cold or warm, whatever the index holds)."""
    import logging

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    logging.getLogger("indexer.files").setLevel(logging.ERROR)
    from indexer.build_options import BuildOptions
    from indexer.builder import IndexBuilder
    from indexer.opening import open_index

    started = time.perf_counter()
    opened = open_index(index_dir)
    builder = IndexBuilder(Path(root), opened, BuildOptions())
    build_started = time.perf_counter()
    report = builder.build()
    finished = time.perf_counter()
    return {
        "build_s": round(finished - build_started, 3),
        "open_and_build_s": round(finished - started, 3),
        "report": report.as_dict(),
        "rows": opened.store.count_rows(),
        "processes": builder.options.processes,
        "peak_rss_mb": _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
        "pool_peak_rss_mb": _rss_mb(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss),
    }


def phase_embed(root: str, index_dir: str, limit: int, scale: int, queries: int) -> dict[str, Any]:
    """Runs in a child process: embed up to ``limit`` chunk texts, then time vector queries (see the docstring)."""
    import logging

    import lancedb

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    from indexer.embedding.background import BackgroundEmbedder
    from indexer.embedding.onnx import OnnxEmbedder
    from indexer.opening import open_index
    from indexer.query import IndexReader
    from indexer.vectors import VectorStore, nprobes_for, table_name

    opened = open_index(index_dir)
    embedder = OnnxEmbedder()
    load_started = time.perf_counter()
    embedder.warm()
    load_s = time.perf_counter() - load_started
    vectors = VectorStore(index_dir, embedder.model_id)
    queue = BackgroundEmbedder(embedder, lambda: opened.store, vectors)
    started = time.perf_counter()
    queue.run_until_done(limit=limit)
    wall = time.perf_counter() - started
    rss_after_embedding = _vm_hwm_mb(os.getpid())
    status = queue.status()
    out: dict[str, Any] = {
        "model": embedder.model_id,
        "model_load_s": round(load_s, 2),
        "embedded": status["embeddings_made"],
        "distinct_texts": status["embedded"] + status["embeddings_pending"],
        "seconds": round(wall, 1),
        "chunks_per_s_model": status["chunks_per_s"],
        "chunks_per_s_end_to_end": round(status["embeddings_made"] / wall, 1) if wall else None,
    }
    rng = random.Random(11)
    reader = IndexReader.open(index_dir)
    assert reader is not None
    sample = rng.sample(opened.store.hashes(), min(queries, 2000))
    texts = opened.store.texts([h for h, _ in sample])
    query_texts = []
    for text in texts.values():
        lines = [line for line in text.splitlines() if line.strip()]
        start = rng.randrange(max(1, len(lines) - 3))
        query_texts.append("\n".join(lines[start : start + 4]))
    query_texts = query_texts[:queries]
    embed_ms, query_vectors = [], []
    for text in query_texts:
        t0 = time.perf_counter()
        query_vectors.append(embedder.embed_query(text))
        embed_ms.append((time.perf_counter() - t0) * 1000)
    out["query_embedding_ms"] = {"p50": round(_pct(embed_ms, 0.5), 2), "p95": round(_pct(embed_ms, 0.95), 2)}

    db = lancedb.connect(index_dir, read_consistency_interval=timedelta(0))

    tables: dict[str, Any] = {}

    def nearest(name: str, vector: list[float], *, brute: bool, nprobes: int) -> list[str]:
        table = tables.get(name) or tables.setdefault(name, db.open_table(name))
        query = table.search(vector).distance_type("cosine").select(["content_hash", "_distance"])
        query = query.bypass_vector_index() if brute else query.nprobes(nprobes)
        return query.limit(10).to_arrow().column("content_hash").to_pylist()

    def timed(call: Any) -> dict[str, float]:
        ms = []
        for vector in query_vectors:
            t0 = time.perf_counter()
            call(vector)
            ms.append((time.perf_counter() - t0) * 1000)
        return {"p50": round(_pct(ms, 0.5), 2), "p95": round(_pct(ms, 0.95), 2)}

    def recall(name: str, nprobes: int) -> float:
        hits = 0
        for vector in query_vectors[:100]:
            exact = set(nearest(name, vector, brute=True, nprobes=nprobes))
            hits += len(exact & set(nearest(name, vector, brute=False, nprobes=nprobes)))
        return round(hits / (10 * min(100, len(query_vectors))), 3)

    def measure(model_id: str, rows: int) -> dict[str, Any]:
        """Nearest vectors by brute force and with the IVF index (rebuilt here, timed), then the reader's whole
        vector query (nearest, then the join to chunk rows) as retrieval runs it."""
        name, probes = table_name(model_id), nprobes_for(rows)
        figures: dict[str, Any] = {"rows": rows, "ivf_partitions": round(rows**0.5), "ivf_nprobes": probes}
        figures["nearest_brute_ms"] = timed(lambda v: nearest(name, v, brute=True, nprobes=probes))
        t0 = time.perf_counter()
        VectorStore(index_dir, model_id).ensure_index(min_rows=1, growth=1.0)  # (re)build, timed
        figures["ivf_build_s"] = round(time.perf_counter() - t0, 2)
        figures["nearest_ivf_ms"] = timed(lambda v: nearest(name, v, brute=False, nprobes=probes))
        figures["ivf_recall_at_10"] = recall(name, probes)
        reader.refresh_vectors()  # see the index at once
        figures["vector_search_ms"] = timed(lambda v: reader.vector_search(v, 10, model_id=model_id))
        return figures

    model = embedder.model_id
    rows = vectors.count_rows()
    out["vectors"] = measure(model, rows)

    if scale > rows:  # the library's size: the real vectors plus noisy copies of them, in a scratch table
        import numpy as np

        stored = db.open_table(table_name(model)).search().select(["content_hash", "vector"]).limit(rows + 1)
        stored_rows = stored.to_arrow()
        real_hashes = stored_rows.column("content_hash").to_pylist()
        base = np.array(stored_rows.column("vector").to_pylist(), dtype=np.float32)
        all_hashes = sorted({h for h, _ in opened.store.hashes()})
        np_rng = np.random.default_rng(5)
        fill = base[np_rng.integers(0, len(base), scale - len(base))]
        fill = fill + np_rng.normal(0, 0.03, fill.shape).astype(np.float32)
        fill /= np.linalg.norm(fill, axis=1, keepdims=True)
        real_set = set(real_hashes)
        others = [h for h in all_hashes if h not in real_set]
        extra = (others + [f"synthetic-{i}" for i in range(max(0, len(fill) - len(others)))])[: len(fill)]
        scratch_id = "bench:scale-test"
        scratch = VectorStore(index_dir, scratch_id)
        scratch.add(real_hashes + extra, np.concatenate([base, fill]))
        name = table_name(scratch_id)
        del base, fill
        out["scale"] = {**measure(scratch_id, scratch.count_rows()), "real": len(real_hashes),
                        "synthetic": scratch.count_rows() - len(real_hashes)}
        db.drop_table(name)
    out["peak_rss_after_embedding_mb"] = rss_after_embedding
    out["peak_rss_mb"] = _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return out


def run_embed_phase(root: Path, index_dir: Path, limit: int, scale: int, queries: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--phase-embed", str(root), str(index_dir), str(limit), str(scale), str(queries)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_phase(root: Path, index_dir: Path) -> dict[str, Any]:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--phase-build", str(root), str(index_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["command_s"] = round(time.perf_counter() - started, 3)
    return result


# -- live phases: worker process + reader in this process ----------------------------------------------
async def live_phases(
    root: Path, index_dir: Path, edits: int, saves: int, queries: int, settings: dict[str, Any] | None = None
) -> dict[str, Any]:
    from indexer.client import IndexClient
    from indexer.query import IndexReader

    client = IndexClient()
    indexed_events = 0

    def on_event(message: dict[str, Any]) -> None:
        nonlocal indexed_events
        if message.get("type") == "indexed":
            indexed_events += 1

    await client.start(root, str(index_dir), settings or {}, on_event=on_event)
    start_wait = time.perf_counter()
    while True:
        status = await client.status(timeout=5)
        if status.get("initial_build_done") and status.get("pending") == 0:
            break
        await asyncio.sleep(0.05)
    worker_ready_s = time.perf_counter() - start_wait
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    out: dict[str, Any] = {"worker_ready_s": round(worker_ready_s, 3)}

    # query latency on an idle index
    names = sorted({h.symbol for h in reader.text_search("get set read write parse format", 200) if h.symbol})
    rng = random.Random(7)
    symbol_names = [rng.choice(names) for _ in range(queries)] or ["TextWrapper"]
    words = ["wrap", "text", "parse", "http", "socket", "thread", "lock", "json", "decode", "path", "zip", "mail"]
    text_queries = [" ".join(rng.sample(words, 2)) for _ in range(queries)]
    prefixes = [n[:3] for n in symbol_names]
    latencies: dict[str, list[float]] = {"symbols": [], "symbol_prefix": [], "text_search": []}
    for i in range(queries):
        for kind, call in (
            ("symbols", lambda i=i: reader.symbols([symbol_names[i]], 10)),
            ("symbol_prefix", lambda i=i: reader.symbol_prefix(prefixes[i], 10)),
            ("text_search", lambda i=i: reader.text_search(text_queries[i], 10)),
        ):
            t0 = time.perf_counter()
            call()
            latencies[kind].append((time.perf_counter() - t0) * 1000)
    out["query_ms"] = {
        kind: {"p50": round(_pct(v, 0.5), 2), "p95": round(_pct(v, 0.95), 2)} for kind, v in latencies.items()
    }

    # save-to-searchable: rewrite one module with a new function, poll a symbol query until it is found
    target = root / EDIT_TARGET
    original = target.read_text()
    save_latencies: list[float] = []
    total_saves = max(edits, saves)
    t_all = time.perf_counter()
    for i in range(total_saves):
        name = f"bench_edit_function_{i}"
        text = original + f"\n\ndef {name}(value):\n    return value + {i}\n"
        t0 = time.perf_counter()
        target.write_text(text)
        deadline = t0 + 30
        while not reader.symbols([name], 1):
            if time.perf_counter() > deadline:
                raise RuntimeError(f"edit {i} not searchable after 30 s")
            await asyncio.sleep(0.003)
        save_latencies.append((time.perf_counter() - t0) * 1000)
    out["saves_s"] = round(time.perf_counter() - t_all, 1)
    first = save_latencies[:edits]
    out["save_to_searchable_ms"] = {
        "edits": len(first),
        "p50": round(_pct(first, 0.5), 1),
        "p95": round(_pct(first, 0.95), 1),
        "max": round(max(first), 1),
    }
    out["save_to_searchable_all_ms"] = {
        "saves": len(save_latencies),
        "p50": round(_pct(save_latencies, 0.5), 1),
        "p95": round(_pct(save_latencies, 0.95), 1),
        "max": round(max(save_latencies), 1),
    }
    stats = reader.stats()
    out["after_saves"] = {"saves": total_saves, "versions": stats.get("versions"), "fragments": stats.get("fragments")}

    # queries while the table carries the saves' history (before idle compaction)
    busy: list[float] = []
    for i in range(min(queries, 100)):
        t0 = time.perf_counter()
        reader.symbols([symbol_names[i]], 10)
        reader.text_search(text_queries[i], 10)
        busy.append((time.perf_counter() - t0) * 1000)
    out["symbol_plus_text_after_saves_ms"] = {"p50": round(_pct(busy, 0.5), 2), "p95": round(_pct(busy, 0.95), 2)}

    # let the worker go idle: it compacts, then drops the replaced versions once they are old enough
    idle_started = time.perf_counter()
    while True:
        await asyncio.sleep(0.5)
        stats = reader.stats()
        if (stats.get("versions") or 0) <= 5 or time.perf_counter() - idle_started > 40:
            break
    status = await client.status(timeout=5)
    out["after_idle"] = {
        "versions": stats.get("versions"),
        "fragments": stats.get("fragments"),
        "seconds": round(time.perf_counter() - idle_started, 1),
    }
    keys = ("files", "chunks", "versions", "fragments", "last_error", "embedded", "embeddings_pending",
            "embeddings_made", "embedding_error", "chunks_per_s")
    out["worker_status"] = {k: status.get(k) for k in keys if k in status}
    pid = client.pid
    out["worker_peak_rss_mb"] = _vm_hwm_mb(pid) if pid else None
    out["indexed_events"] = indexed_events
    target.write_text(original)
    await client.stop()
    return out


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--phase-build":
        print(json.dumps(phase_build(sys.argv[2], sys.argv[3])))
        return
    if len(sys.argv) == 7 and sys.argv[1] == "--phase-embed":
        root, index_dir, limit, scale, queries = sys.argv[2:]
        print(json.dumps(phase_embed(root, index_dir, int(limit), int(scale), int(queries))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=100, help="edits timed for save-to-searchable")
    parser.add_argument("--saves", type=int, default=500, help="saves before versions/fragments are counted")
    parser.add_argument("--queries", type=int, default=300, help="queries of each kind")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspace and index")
    parser.add_argument("--embeddings", choices=["off", "local"], default="off", help="also measure embeddings")
    parser.add_argument("--embed-limit", type=int, default=5000, help="chunk texts embedded in the timed phase")
    parser.add_argument("--vector-scale", type=int, default=65_000, help="rows of the synthetic scale test (0: none)")
    args = parser.parse_args()
    embeddings = args.embeddings == "local"

    scratch = Path(tempfile.mkdtemp(prefix="srag-bench-index-"))
    root, index_dir = scratch / "stdlib", scratch / "index"
    try:
        files, lines = copy_stdlib(root)
        print(f"workspace: {files} .py files, {lines} lines copied to {root}", file=sys.stderr)
        cold = run_phase(root, index_dir)
        print(f"cold build: {cold['build_s']} s", file=sys.stderr)
        warm = run_phase(root, index_dir)
        embedded = None
        if embeddings:
            print(f"embedding up to {args.embed_limit} chunk texts ...", file=sys.stderr)
            embedded = run_embed_phase(root, index_dir, args.embed_limit, args.vector_scale, min(args.queries, 200))
        settings = {"embeddings": "local"} if embeddings else {}
        live = asyncio.run(live_phases(root, index_dir, args.edits, args.saves, args.queries, settings))
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    report = cold["report"]
    results = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "workspace": {"py_files": files, "lines": lines},
        "cold": {
            "seconds": cold["build_s"],
            "command_seconds": cold["command_s"],
            "files_indexed": report["indexed"],
            "files_per_s": round(report["indexed"] / cold["build_s"], 1),
            "chunks": cold["rows"],
            "skipped": report["skipped"],
            "errors": report["errors"],
            "pool_processes": cold["processes"],
            "builder_peak_rss_mb": cold["peak_rss_mb"],
            "pool_process_peak_rss_mb": cold["pool_peak_rss_mb"],
        },
        "warm": {
            "build_seconds": warm["build_s"],
            "open_and_build_seconds": warm["open_and_build_s"],
            "command_seconds": warm["command_s"],
            "files_indexed": warm["report"]["indexed"],
            "peak_rss_mb": warm["peak_rss_mb"],
        },
        **live,
        "reader_process_peak_rss_mb": _rss_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss),
    }
    if embedded is not None:
        results["embeddings"] = embedded
    target = RESULTS_EMBEDDINGS if embedded is not None else RESULTS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results, target)


def embedding_rows(e: dict[str, Any], worker: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (
            "embedding",
            f"{e['embedded']} of {e['distinct_texts']} distinct chunk texts in {e['seconds']} s: "
            f"{e['chunks_per_s_end_to_end']} chunks/s end to end, {e['chunks_per_s_model']} in the model "
            f"({e['model']}, 1 thread; load {e['model_load_s']} s)",
        ),
        ("  query embedding", f"p50 {e['query_embedding_ms']['p50']} ms, p95 {e['query_embedding_ms']['p95']} ms"),
    ]
    for label, v in (("  vectors", e["vectors"]), ("  at library size", e.get("scale"))):
        if not v:
            continue
        what = f"{v['rows']} rows" + (
            f" ({v['real']} real + {v['synthetic']} synthetic noisy copies)" if "synthetic" in v else ""
        )
        rows.append(
            (
                label,
                f"{what}: nearest 10 by brute force p50 {v['nearest_brute_ms']['p50']} ms, p95 "
                f"{v['nearest_brute_ms']['p95']} ms; IVF_FLAT ({v['ivf_partitions']} partitions, nprobes "
                f"{v['ivf_nprobes']}, built in {v['ivf_build_s']} s) p50 {v['nearest_ivf_ms']['p50']} ms, p95 "
                f"{v['nearest_ivf_ms']['p95']} ms, recall@10 {v['ivf_recall_at_10']}",
            )
        )
        rows.append(
            (
                "    vector query",
                f"the reader's whole query (nearest, then the chunk rows) p50 {v['vector_search_ms']['p50']} ms, "
                f"p95 {v['vector_search_ms']['p95']} ms",
            )
        )
    rows.append(
        (
            "  embed process RSS",
            f"peak {e['peak_rss_after_embedding_mb']} MB after embedding (model, chunk table, vectors); "
            f"{e['peak_rss_mb']} MB after the query tests (65k synthetic vectors in memory)",
        )
    )
    if "embeddings_made" in worker:
        rows.append(
            (
                "  worker embedding",
                f"{worker.get('embeddings_made')} made during the live phases, {worker.get('embeddings_pending')} "
                f"pending at the end (background, between file events)",
            )
        )
    return rows


def print_table(r: dict[str, Any], written: Path = RESULTS) -> None:
    q = r["query_ms"]
    s = r["save_to_searchable_ms"]
    sa = r["save_to_searchable_all_ms"]
    rows = [
        ("workspace", f"{r['workspace']['py_files']} files, {r['workspace']['lines']} lines (CPython stdlib copy)"),
        (
            "cold build",
            f"{r['cold']['seconds']} s ({r['cold']['files_per_s']} files/s, {r['cold']['chunks']} chunks, "
            f"{r['cold']['pool_processes']} chunking processes; whole command {r['cold']['command_seconds']} s)",
        ),
        (
            "warm restart",
            f"build {r['warm']['build_seconds']} s, open+build {r['warm']['open_and_build_seconds']} s, "
            f"whole command {r['warm']['command_seconds']} s, {r['warm']['files_indexed']} files re-indexed",
        ),
        ("save->searchable", f"p50 {s['p50']} ms, p95 {s['p95']} ms, max {s['max']} ms over {s['edits']} edits"),
        ("  over all saves", f"p50 {sa['p50']} ms, p95 {sa['p95']} ms, max {sa['max']} ms over {sa['saves']} saves"),
        ("query symbols", f"p50 {q['symbols']['p50']} ms, p95 {q['symbols']['p95']} ms"),
        ("query prefix", f"p50 {q['symbol_prefix']['p50']} ms, p95 {q['symbol_prefix']['p95']} ms"),
        ("query full text", f"p50 {q['text_search']['p50']} ms, p95 {q['text_search']['p95']} ms"),
        (
            "symbol+text, busy",
            f"p50 {r['symbol_plus_text_after_saves_ms']['p50']} ms, p95 {r['symbol_plus_text_after_saves_ms']['p95']} "
            "ms (right after the saves)",
        ),
        (
            "after saves",
            f"{r['after_saves']['versions']} versions, {r['after_saves']['fragments']} fragments "
            f"after {r['after_saves']['saves']} saves; {r['after_idle']['seconds']} s later (idle): "
            f"{r['after_idle']['versions']} versions, {r['after_idle']['fragments']} fragments",
        ),
        (
            "peak RSS",
            f"builder {r['cold']['builder_peak_rss_mb']} MB, pool process {r['cold']['pool_process_peak_rss_mb']} MB, "
            f"worker {r['worker_peak_rss_mb']} MB, reader {r['reader_process_peak_rss_mb']} MB",
        ),
    ]
    if r.get("embeddings"):
        rows.extend(embedding_rows(r["embeddings"], r.get("worker_status") or {}))
    width = max(len(k) for k, _ in rows)
    print(f"{'measure':<{width}}  value")
    print(f"{'-' * width}  {'-' * 60}")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print(f"\nwritten to {written.relative_to(REPO)}")


if __name__ == "__main__":
    main()
