"""Retrieval quality and latency on real cross-file completions, beside the baselines, in one command.

    .venv/bin/python benchmarks/eval_retrieval.py [--cases-per-package 120] [--seed 7] [--no-stdlib]
        [--model-cases 8] [--vectors PACKAGE] [--packages NAME,...]

1. Installs pinned pure-Python packages from PyPI (requests, flask, jinja2, werkzeug, which the retriever was
   tuned on before issue 13, and click, urllib3, packaging, pluggy, which it never was) into a work folder,
   packs one JavaScript package with cross-file ES modules from npm (lodash-es, ``npm pack``), and indexes
   each package folder as a workspace with the real builder.
2. Builds cross-file completion cases (see ``benchmarks/retrieval_cases.py``): the cursor at the start of a
   use of a name defined in another module of the package; the buffer is the file cut at the cursor. Before
   the first case in a file the document is opened (``prepare_document``, with that prefix), as an editor does.
3. Scores four methods on the same cases: srag (this retriever: symbol + imports + full text, fused and
   budgeted as for a prompt), bm25-window (BM25 over 20-line windows of the other files, queried with the
   20 lines before the cursor: what Tabby and Cody do), recent-imports (the definitions of the file's
   imported names, the most recently used first: what Continue does), and none (no retrieval).
   ``srag-1-char`` is srag one keystroke later, with the name's first character typed (not a baseline: what
   the partial identifier allows, as in a typing session).
   ``place context`` (``place_context``): the engine itself, typing each case's line from its indentation up to
   two characters into the name: is the defining chunk among the chunks its context-aware prompt holds, when
   the place opened and two characters into the name (``--place-cases`` per package; a silent fake model).
   Metrics: recall@1, recall@5, MRR of the defining chunk; retrieval latency p50/p95; per package and the
   mean per language.
   With ``--vectors PACKAGE``, that package's index also gets vectors (the local ONNX model) and two more
   methods are scored: srag+vectors (the vector source on, as with the ``embeddings`` setting) and vectors
   (the vector source alone).
4. Times retrieval on an index of a copy of the CPython standard library at sampled cursors.
5. Prints a table and writes ``benchmarks/results/retrieval.json``.

The completion-quality part (exact match / edit similarity of model completions with and without
retrieval) is the hook :func:`completion_quality_hook`, wired by the completion engine's owner.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import shutil
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import place_context  # noqa: E402
from benchmarks.bm25_windows import WindowIndex, query_for  # noqa: E402
from benchmarks.retrieval_cases import (  # noqa: E402
    NPM_PACKAGES,
    PACKAGES,
    Case,
    all_cases,
    answer_rank,
    install_npm_packages,
    install_packages,
    js_cases,
    sample_cases,
)
from srag_lsp.retrieval.cache import RetrievalCache  # noqa: E402
from srag_lsp.retrieval.index_access import build_index  # noqa: E402
from srag_lsp.retrieval.retriever import Retriever  # noqa: E402
from srag_lsp.retrieval.types import ContextChunk, CursorQuery  # noqa: E402
from srag_lsp.settings import Settings  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "retrieval.json"
DEADLINE_MS = 1000.0  # quality is measured with every source landed; the latency columns show the cost
TOP_K = 10


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def metrics(ranks: list[int | None], latencies: list[float]) -> dict[str, float]:
    n = max(1, len(ranks))
    return {
        "recall_at_1": sum(1 for r in ranks if r == 1) / n,
        "recall_at_5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "mrr": sum(1.0 / r for r in ranks if r is not None) / n,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
    }


def completion_quality_hook(
    package: str, workspace: Path, cases: list[Case], retrieved: list[list[ContextChunk]], n: int = 0
) -> dict[str, Any] | None:
    """The model part: exact match and edit similarity of the embedded model's completion of the cursor's
    line, with and without the chunks srag retrieved, on the first ``n`` cases (see completion_quality.py)."""
    from benchmarks.completion_quality import completion_quality

    return completion_quality(workspace, cases, retrieved, n)


def ensure_index(workspace: Path, index_dir: Path, say: Callable[[str], None], embedder: Any = None) -> float:
    started = time.perf_counter()
    report = build_index(workspace, str(index_dir), embedder=embedder)  # incremental when the index is there
    seconds = time.perf_counter() - started
    say(
        f"  indexed {workspace.name}: {getattr(report, 'indexed', '?')} files, "
        f"{getattr(report, 'chunks_written', '?')} chunks in {seconds:.1f} s"
    )
    return seconds


async def run_srag(
    workspace: Path,
    index_dir: Path,
    cases: list[Case],
    budget_tokens: int,
    embedder: Any = None,
    only_vectors: bool = False,
) -> tuple[list[int | None], list[float], list[list[ContextChunk]], dict[str, list[float]]]:
    """Score the retriever (``embedder``: with the vector source on; ``only_vectors``: that source alone)."""
    from indexer.query import IndexReader
    from srag_lsp.retrieval.sources import VectorSource

    sources = None
    if only_vectors:
        reader = IndexReader.open(str(index_dir))
        sources = [VectorSource(lambda: reader, embedder)]
    retriever = Retriever(workspace, index_dir=str(index_dir), cache=RetrievalCache(max_entries=0), sources=sources)
    if embedder is not None:
        retriever.set_embedder(embedder)
    ranks: list[int | None] = []
    latencies: list[float] = []
    retrieved: list[list[ContextChunk]] = []
    per_source: dict[str, list[float]] = {}
    try:
        # one warm-up query: opening the table and loading its indexes is paid once per process
        warm = cases[0]
        await retriever.retrieve(
            CursorQuery(warm.file, warm.text, warm.line - 1, warm.col - 1), deadline_ms=DEADLINE_MS
        )
        opened: set[str] = set()
        for case in cases:
            if case.file not in opened:
                # as in an editor: the document is opened (and prepared) before the first request in it; the
                # buffer given is the prefix, so nothing after the cursor is seen
                opened.add(case.file)
                await asyncio.wrap_future(retriever.prepare_document(case.file, case.text))
                retriever.settle()
            ctx = CursorQuery(case.file, case.text, case.line - 1, case.col - 1)
            started = time.perf_counter()
            result = await retriever.retrieve(ctx, deadline_ms=DEADLINE_MS, budget_tokens=budget_tokens)
            latencies.append((time.perf_counter() - started) * 1000)
            chunks = result.chunks[:TOP_K]
            ranks.append(answer_rank(chunks, case.answer))
            retrieved.append(chunks)
            # background lookups (a module read for a name that is no symbol) land before the next
            # request in an editor; wait for them here so that the figures do not depend on timing
            retriever.settle()
            for source, ms in result.ms.items():
                per_source.setdefault(source, []).append(ms)
    finally:
        retriever.close()
    return ranks, latencies, retrieved, per_source


def run_recent_imports(workspace: Path, index_dir: Path, cases: list[Case]) -> tuple[list[int | None], list[float]]:
    """The "imported names seen recently" baseline (Continue's way): the definitions of the names the file
    imports, the most recently used before the cursor first, then the unused ones in import order. Imports
    are read and resolved as srag does; each name's definition is its exact symbol in the module it names
    (or, for a re-export, anywhere)."""
    from indexer.query import IndexReader
    from srag_lsp.retrieval.cursor import CursorAnalyzer
    from srag_lsp.retrieval.workspace_modules import WorkspaceModules

    reader = IndexReader.open(str(index_dir))
    analyzer = CursorAnalyzer(WorkspaceModules(workspace))
    ranks: list[int | None] = []
    latencies: list[float] = []
    for case in cases:
        started = time.perf_counter()
        analysis = analyzer.analyze(CursorQuery(case.file, case.text, case.line - 1, case.col - 1))
        bindings = [b for b in analysis.imports if b.paths and not b.is_module and b.name not in ("", "*")]
        order = {b.local: i for i, b in enumerate(bindings)}
        far = 10**6
        bindings.sort(key=lambda b: (analysis.name_distance.get(b.local, far), order[b.local]))
        wanted = list(dict.fromkeys(b.local if b.name == "default" else b.name for b in bindings))
        hits = reader.symbols(wanted, k=8 * len(wanted) + 8) if wanted and reader is not None else []
        chunks: list[Any] = []
        for binding in bindings:
            name = binding.local if binding.name == "default" else binding.name
            named = [h for h in hits if h.symbol == name and not h.scope]
            best = next((h for h in named if h.path in binding.paths), named[0] if named else None)
            if best is not None and all(c.id != best.id for c in chunks):
                chunks.append(best)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(answer_rank(chunks[:TOP_K], case.answer))
    return ranks, latencies


def source_files(workspace: Path, suffixes: tuple[str, ...]) -> dict[str, str]:
    return {
        p.relative_to(workspace).as_posix(): p.read_text(encoding="utf-8", errors="replace")
        for p in sorted(workspace.rglob("*"))
        if p.suffix in suffixes and p.is_file() and "__pycache__" not in p.parts and "node_modules" not in p.parts
    }


def run_bm25(workspace: Path, cases: list[Case], suffixes: tuple[str, ...] = (".py",)) -> tuple[
    list[int | None], list[float], float
]:
    files = source_files(workspace, suffixes)
    started = time.perf_counter()
    index = WindowIndex(files)
    build_s = time.perf_counter() - started
    ranks: list[int | None] = []
    latencies: list[float] = []
    for case in cases:
        started = time.perf_counter()
        windows = index.search(query_for(case.text), exclude_path=case.file, k=TOP_K)
        latencies.append((time.perf_counter() - started) * 1000)
        ranks.append(answer_rank(windows, case.answer))
    return ranks, latencies, build_s


def stdlib_copy(dest: Path) -> Path:
    """A copy of the running interpreter's standard library (without site-packages and caches)."""
    source = Path(sysconfig.get_paths()["stdlib"])
    if not (dest / "os.py").exists():
        shutil.copytree(
            source,
            dest,
            ignore=shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc"),
            symlinks=False,
            dirs_exist_ok=True,
        )
    return dest


def stdlib_cursors(root: Path, n: int, seed: int) -> list[tuple[str, str, int, int]]:
    """Cursors at the start of a random identifier on a random code line of random files."""
    rng = random.Random(seed)
    files = sorted(p for p in root.rglob("*.py") if "test" not in p.relative_to(root).parts[0])
    out: list[tuple[str, str, int, int]] = []
    while len(out) < n and files:
        path = rng.choice(files)
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        lines = text.split("\n")
        candidates = [
            i
            for i, line in enumerate(lines)
            if line.strip() and not line.lstrip().startswith(("#", "import ", "from ", '"', "'"))
        ]
        if not candidates:
            continue
        line = rng.choice(candidates)
        starts = [
            i
            for i, ch in enumerate(lines[line])
            if (ch.isalpha() or ch == "_")
            and (i == 0 or not (lines[line][i - 1].isalnum() or lines[line][i - 1] == "_"))
        ]
        col = rng.choice(starts) if starts else len(lines[line]) - len(lines[line].lstrip())
        out.append((path.relative_to(root).as_posix(), text, line, col))
    return out


async def time_stdlib(root: Path, index_dir: Path, n: int, seed: int, budget_tokens: int) -> dict[str, Any]:
    """Latency at sampled cursors of the standard library, as an editor would see it.

    ``cold``: the first request at each cursor (a file and scope not seen before: nothing cached).
    ``keystroke``: the next request at the same place after typing the identifier's first character
    (the retrieval cache and the per-file import lookups are warm, as while typing).
    ``opened``: the first request in a file the editor opened before (``prepare_document`` ran on open:
    the tree is parsed and the imports looked up), at a second set of cursors in other files.
    """
    cursors = stdlib_cursors(root, n, seed)
    retriever = Retriever(root, index_dir=str(index_dir))
    cold: list[float] = []
    cold_cpu: list[float] = []  # CPU time of the whole process (every thread) per cold request: less load-bound
    keystroke: list[float] = []
    opened: list[float] = []
    analysis_ms: list[float] = []
    per_source: dict[str, list[float]] = {}
    dropped = 0
    try:
        path, text, line, col = cursors[0]
        await retriever.retrieve(CursorQuery(path, text, line, col), deadline_ms=DEADLINE_MS)
        retriever.invalidate(None)
        for path, text, line, col in cursors:
            ctx = CursorQuery(path, text, line, col)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = await retriever.retrieve(ctx, deadline_ms=DEADLINE_MS, budget_tokens=budget_tokens)
            cold.append((time.perf_counter() - started) * 1000)
            cold_cpu.append((time.process_time() - cpu_started) * 1000)
            dropped += bool(result.dropped)
            analysis_ms.append(result.analysis_ms)
            for source, ms in result.ms.items():
                per_source.setdefault(source, []).append(ms)
            lines = text.split("\n")
            typed = lines[line][col : col + 1] or "x"
            lines[line] = lines[line][:col] + typed + lines[line][col:]
            started = time.perf_counter()
            await retriever.retrieve(
                CursorQuery(path, "\n".join(lines), line, col + 1),
                deadline_ms=DEADLINE_MS,
                budget_tokens=budget_tokens,
            )
            keystroke.append((time.perf_counter() - started) * 1000)
            retriever.settle()
        seen = {path for path, *_ in cursors}
        others = [c for c in stdlib_cursors(root, 2 * n, seed + 1) if c[0] not in seen][:n]
        for path, text, line, col in others:
            await asyncio.wrap_future(retriever.prepare_document(path, text))
            retriever.settle()
            started = time.perf_counter()
            await retriever.retrieve(
                CursorQuery(path, text, line, col), deadline_ms=DEADLINE_MS, budget_tokens=budget_tokens
            )
            opened.append((time.perf_counter() - started) * 1000)
            retriever.settle()
    finally:
        retriever.close()
    return {
        "cursors": len(cursors),
        "p50_ms": percentile(cold, 50),
        "p95_ms": percentile(cold, 95),
        "opened_cursors": len(opened),
        "opened_p50_ms": percentile(opened, 50),
        "opened_p95_ms": percentile(opened, 95),
        "mean_ms": statistics.fmean(cold) if cold else 0.0,
        "cpu_p50_ms": percentile(cold_cpu, 50),
        "cpu_p95_ms": percentile(cold_cpu, 95),
        "keystroke_p50_ms": percentile(keystroke, 50),
        "keystroke_p95_ms": percentile(keystroke, 95),
        "cursor_analysis_p50_ms": percentile(analysis_ms, 50),
        "cursor_analysis_p95_ms": percentile(analysis_ms, 95),
        "per_source_p50_ms": {s: percentile(v, 50) for s, v in sorted(per_source.items())},
        "per_source_p95_ms": {s: percentile(v, 95) for s, v in sorted(per_source.items())},
        "requests_with_drops": dropped,
        "load_average_1m": os.getloadavg()[0],
    }


def mean_table(packages: dict[str, Any]) -> dict[str, dict[str, dict[str, float]]]:
    """Per language and method: the mean of each figure over that language's packages."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for language in sorted({p.get("language", "python") for p in packages.values()}):
        group = [p for p in packages.values() if p.get("language", "python") == language]
        methods = dict.fromkeys(m for p in group for m in p["methods"])
        out[language] = {
            method: {
                key: statistics.fmean(p["methods"][method][key] for p in group if method in p["methods"])
                for key in ("recall_at_1", "recall_at_5", "mrr", "p50_ms", "p95_ms")
            }
            for method in methods
        }
    return out


def print_table(report: dict[str, Any]) -> None:
    header = (
        f"{'package':<16} {'cases':>5}  {'method':<14} {'R@1':>6} {'R@5':>6} {'MRR':>6} {'p50 ms':>8} {'p95 ms':>8}"
    )
    print(header)
    print("-" * len(header))
    for name, package in report["packages"].items():
        first = True
        for method, figures in package["methods"].items():
            label = f"{name} {package['version']}" if first else ""
            cases = str(package["cases"]) if first else ""
            print(
                f"{label:<16} {cases:>5}  {method:<14} {figures['recall_at_1']:6.3f} {figures['recall_at_5']:6.3f} "
                f"{figures['mrr']:6.3f} {figures['p50_ms']:8.2f} {figures['p95_ms']:8.2f}"
            )
            first = False
    for language, methods in report.get("mean", {}).items():
        first = True
        for method, figures in methods.items():
            label = f"mean ({language})" if first else ""
            print(
                f"{label:<16} {'':>5}  {method:<14} {figures['recall_at_1']:6.3f} {figures['recall_at_5']:6.3f} "
                f"{figures['mrr']:6.3f} {figures['p50_ms']:8.2f} {figures['p95_ms']:8.2f}"
            )
            first = False
    places = {n: p["place_context"] for n, p in report["packages"].items() if p.get("place_context")}
    if places:
        print("\nthe engine's context-aware prompt holds the defining chunk (a line typed from its indentation):")
        print(f"{'package':<16} {'cases':>5}  {'place opened':>12} {'2 chars into the name':>22} {'chunks':>7}")
        for name, f in places.items():
            print(f"{name:<16} {f['cases']:>5}  {f['at_line_start']:12.3f} {f['at_two_chars']:22.3f} "
                  f"{f['pinned_mean']:7.1f}")
    quality = {n: p["completion_quality"] for n, p in report["packages"].items() if "completion_quality" in p}
    if quality:
        print(f"\n{'package':<16} {'cases':>5}  {'retrieval':<10} {'exact':>6} {'edit sim':>9} {'name 1st':>9}")
        for name, q in quality.items():
            for key in ("without", "with"):
                f = q[key]
                print(f"{name if key == 'without' else '':<16} {q['cases'] if key == 'without' else '':>5}  "
                      f"{key:<10} {f['exact_match']:6.3f} {f['edit_similarity']:9.3f} {f['name_first']:9.3f}")
    if "stdlib" in report:
        s = report["stdlib"]
        print(
            f"\nCPython stdlib index ({s['files']} files, {s['chunks']} chunks), {s['cursors']} sampled cursors: "
            f"first request p50 {s['p50_ms']:.1f} ms, p95 {s['p95_ms']:.1f} ms (CPU time p50 "
            f"{s.get('cpu_p50_ms', 0.0):.1f} ms, p95 {s.get('cpu_p95_ms', 0.0):.1f} ms); "
            f"first request in an opened file p50 {s['opened_p50_ms']:.1f} ms, p95 {s['opened_p95_ms']:.1f} ms; "
            f"next keystroke p50 "
            f"{s['keystroke_p50_ms']:.1f} ms, p95 {s['keystroke_p95_ms']:.1f} ms; cursor analysis p50 "
            f"{s['cursor_analysis_p50_ms']:.1f} ms; per source p95: "
            + ", ".join(f"{k} {v:.1f}" for k, v in s["per_source_p95_ms"].items())
            + f" (load average {s['load_average_1m']:.1f} on {os.cpu_count()} cores)"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases-per-package", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stdlib-cursors", type=int, default=300)
    parser.add_argument("--no-stdlib", action="store_true", help="skip the standard-library latency run")
    parser.add_argument(
        "--work-dir",
        default=os.path.join(Settings().cache_dir, "bench", "retrieval"),
        help="where packages, the stdlib copy and the indexes go (reused between runs)",
    )
    parser.add_argument("--budget-tokens", type=int, default=Settings().context_budget_tokens)
    parser.add_argument("--model-cases", type=int, default=8,
                        help="cases per package completed by the embedded model with and without retrieval (0: none)")
    parser.add_argument("--output", default=str(RESULTS))
    parser.add_argument("--vectors", metavar="PACKAGE", choices=sorted(PACKAGES),
                        help="also score this package with the vector source on (local embeddings)")
    parser.add_argument("--packages", help="only these packages (comma-separated)")
    parser.add_argument("--place-cases", type=int, default=120,
                        help="cases per package typed through the engine for the place-context figure (0: none)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    work = Path(args.work_dir).expanduser()
    work.mkdir(parents=True, exist_ok=True)

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    say(f"installing {', '.join(f'{k}=={v}' for k, v in PACKAGES.items())} into {work / 'packages'}")
    roots = install_packages(work / "packages")
    say(f"packing {', '.join(f'{k}@{v}' for k, v in NPM_PACKAGES.items())} from npm into {work / 'npm'}")
    roots.update(install_npm_packages(work / "npm"))
    if args.packages:
        wanted = {p.strip() for p in args.packages.split(",")}
        roots = {name: root for name, root in roots.items() if name in wanted}
    embedder = None
    if args.vectors:
        from indexer.embedding import make_embedder

        embedder = make_embedder("local")
        embedder.warm()
    report: dict[str, Any] = {
        "settings": {
            "cases_per_package": args.cases_per_package,
            "seed": args.seed,
            "top_k": TOP_K,
            "budget_tokens": args.budget_tokens,
            "deadline_ms": DEADLINE_MS,
            "bm25_window": {"window_lines": 20, "stride": 10, "query_lines": 20},
            "buffer": "the file cut at the cursor (prefix only)",
            "retrieval_cache": "disabled",
        },
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "packages": {},
    }
    for name, root in roots.items():
        say(f"{name}: building cases and the index")
        javascript = name in NPM_PACKAGES
        pool = js_cases(root, name) if javascript else all_cases(root, name)
        cases = sample_cases(pool, args.cases_per_package, args.seed)
        index_s = ensure_index(root, work / "indexes" / name, say)
        ranks, latencies, retrieved, per_source = asyncio.run(
            run_srag(root, work / "indexes" / name, cases, args.budget_tokens)
        )
        # one keystroke later: the first character of the name typed (what the partial identifier allows)
        typed = [replace(c, text=c.text + c.name[0], col=c.col + 1) for c in cases]
        typed_ranks, typed_latencies, _, _ = asyncio.run(
            run_srag(root, work / "indexes" / name, typed, args.budget_tokens)
        )
        place = place_context.run(root, work / "indexes" / name, cases[: args.place_cases]) \
            if args.place_cases else None
        bm25_ranks, bm25_latencies, bm25_build_s = run_bm25(root, cases, (".js", ".mjs") if javascript else (".py",))
        recent_ranks, recent_latencies = run_recent_imports(root, work / "indexes" / name, cases)
        by_form: dict[str, list[int | None]] = {}
        for case, rank in zip(cases, ranks, strict=True):
            by_form.setdefault(case.form, []).append(rank)
        vector_methods: dict[str, Any] = {}
        if embedder is not None and name == args.vectors:
            say(f"  {name}: embedding its chunks, then scoring with the vector source on")
            ensure_index(root, work / "indexes" / name, say, embedder=embedder)
            for label, alone in (("srag+vectors", False), ("vectors", True)):
                v_ranks, v_latencies, _, _ = asyncio.run(
                    run_srag(root, work / "indexes" / name, cases, args.budget_tokens, embedder, alone)
                )
                vector_methods[label] = metrics(v_ranks, v_latencies)
        package = {
            "version": PACKAGES.get(name) or NPM_PACKAGES[name],
            "language": "javascript" if javascript else "python",
            "cases": len(cases),
            "cases_available": len(pool),
            "index_seconds": round(index_s, 2),
            "methods": {
                "srag": metrics(ranks, latencies),
                "srag-1-char": metrics(typed_ranks, typed_latencies),
                "bm25-window": metrics(bm25_ranks, bm25_latencies),
                "recent-imports": metrics(recent_ranks, recent_latencies),
                **vector_methods,
                "none": metrics([None] * len(cases), [0.0] * len(cases)),
            },
            "srag_by_form": {form: metrics(r, [])["recall_at_5"] for form, r in by_form.items()},
            "place_context": place,
            "srag_per_source_p95_ms": {s: percentile(v, 95) for s, v in sorted(per_source.items())},
            "bm25_index_build_s": round(bm25_build_s, 3),
        }
        if args.model_cases and not javascript:
            say(f"  completing {min(args.model_cases, len(cases))} {name} cases with the embedded model, "
                "with and without retrieval")
        model_cases = 0 if javascript else args.model_cases  # the model part: Python cases only
        quality = completion_quality_hook(name, root, cases, retrieved, model_cases) if model_cases else None
        if quality is not None:
            package["completion_quality"] = quality
        report["packages"][name] = package
    report["mean"] = mean_table(report["packages"])
    if not args.no_stdlib:
        root = stdlib_copy(work / "stdlib")
        say(f"stdlib: indexing a copy of the standard library in {root}")
        index_dir = work / "indexes" / "stdlib"
        index_s = ensure_index(root, index_dir, say)
        from indexer.query import IndexReader

        reader = IndexReader.open(str(index_dir))
        stats = reader.stats() if reader is not None else {}
        stdlib = asyncio.run(time_stdlib(root, index_dir, args.stdlib_cursors, args.seed, args.budget_tokens))
        stdlib.update({"files": stats.get("files"), "chunks": stats.get("chunks"), "index_seconds": round(index_s, 1)})
        report["stdlib"] = stdlib
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    say(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
