"""Does retrieved context make the suggestion better? Scored against the real line, through the real engine.

Cases come from four packages (requests, flask, jinja2, werkzeug):
- cross-file: the retrieval evaluation's cases (the cursor at a use of a name that another module defines);
- in-file: single-line statements that use no imported name (where retrieval can only distract).
The buffer is the real file with the rest of the cursor's line removed; the answer is that rest. The real
engine runs with the default settings (the embedded default model, real retrieval over a real index) in:
- `local`: no retrieval;
- `streaming`: its draft (what shows first) and its final text;
- `sequential`: retrieve, then generate;
- `oracle`: handed the defining chunk (cross-file only): the ceiling of what retrieval can give;
- with `--backends llama-server,openai`: `streaming` on a model server, a column each, against one llama-server
  this run starts on the same GGUF (llama.cpp's server built from the same sources and CPU flags).
The first line of each suggestion is scored: exact match, edit similarity (1 - Levenshtein / longer length), and
whether it names the needed symbol. Paired counts against the draft (exact matches gained, lost) and a
bootstrap interval of the mean edit-similarity difference.

    .venv/bin/python -m benchmarks.bench_quality [--cases 200] [--configs local,streaming,sequential,oracle]
        [--backends llama-server,openai]

Prints the table; writes benchmarks/results/quality.json and quality.png.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from lsprotocol import types

from benchmarks.report import save
from benchmarks.retrieval_cases import all_cases, install_packages, sample_cases
from srag_lsp.completion.edit_distance import edit_distance
from srag_lsp.completion.engine import CompletionEngine
from srag_lsp.completion.request import CompletionRequest
from srag_lsp.runtime import Runtime
from srag_lsp.settings import from_environment
from srag_lsp.trace import Tracer

TUNED = {"requests": "2.32.3", "flask": "3.1.0", "jinja2": "3.1.4", "werkzeug": "3.1.3"}
CONFIGS = ("local", "draft", "streaming", "sequential", "oracle")
SERVER_BACKENDS = ("llama-server", "openai")  # --backends: the streaming engine on a llama-server, a column each


@dataclass(slots=True)
class QualityCase:
    kind: str  # "cross" | "in-file"
    package: str
    file: str
    line: int  # 0-based
    col: int  # 0-based
    truth: str  # the rest of the real line
    name: str = ""  # cross-file: the name the cursor is about to use
    answer_path: str = ""
    answer_lines: tuple[int, int] = (0, 0)  # 1-based, inclusive


@dataclass(slots=True)
class OracleChunk:
    id: str
    path: str
    text: str
    symbol: str
    source: str = "oracle"


@dataclass(slots=True)
class OracleUpdate:
    source: str
    ms: float
    chunks: list[OracleChunk]


class OracleContext:
    """Retrieval that returns exactly the defining chunk: the ceiling of what retrieval can give."""

    def __init__(self) -> None:
        self.chunk: OracleChunk | None = None

    def cached(self, request: object) -> None:
        return None

    async def stream(self, request: object, *, deadline_ms: int, budget_tokens: int) -> AsyncIterator[OracleUpdate]:
        if self.chunk is not None:
            yield OracleUpdate("oracle", 0.0, [self.chunk])

    async def lookup_names(self, names: list[str]) -> dict[str, list[OracleChunk]]:
        return {}


def similarity(a: str, b: str) -> float:
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - edit_distance(a, b) / longest


def _in_file_cases(workspace: Path, package: str, n: int, seed: int) -> list[QualityCase]:
    """Single-line statements inside functions whose names are all local to the file (or builtins)."""
    rng = random.Random(seed)
    found: list[QualityCase] = []
    for path in sorted((workspace / package).rglob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        imported = {a.asname or a.name.split(".")[0] for node in ast.walk(tree)
                    if isinstance(node, ast.Import | ast.ImportFrom) for a in node.names}
        lines = text.split("\n")
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in fn.body:
                if not isinstance(node, ast.Assign | ast.Return) or node.lineno != node.end_lineno:
                    continue
                value = node.value
                if value is None or node.lineno < 10:
                    continue
                names = {n.id for n in ast.walk(value) if isinstance(n, ast.Name)}
                if names & imported:
                    continue
                raw = lines[node.lineno - 1]
                col = value.col_offset
                truth = raw[col:].rstrip()
                if not 6 <= len(truth) <= 60 or not raw.isascii():
                    continue
                found.append(QualityCase("in-file", package, path.relative_to(workspace).as_posix(),
                                         node.lineno - 1, col, truth))
    rng.shuffle(found)
    per_file: dict[str, int] = {}
    out = []
    for case in found:
        if per_file.get(case.file, 0) >= 2:
            continue
        per_file[case.file] = per_file.get(case.file, 0) + 1
        out.append(case)
        if len(out) >= n:
            break
    return out


def _cross_cases(workspace: Path, package: str, n: int, seed: int) -> list[QualityCase]:
    out = []
    root = workspace / package  # the cases' paths are relative to the package's folder
    for case in sample_cases(all_cases(root, package), n * 2, seed):
        line = (root / case.file).read_text(encoding="utf-8").split("\n")[case.line - 1]
        truth = line[case.col - 1:].rstrip()
        if len(truth) < 4:
            continue
        out.append(QualityCase("cross", package, f"{package}/{case.file}", case.line - 1, case.col - 1, truth,
                               case.name, f"{package}/{case.answer.path}",
                               (case.answer.start_line, case.answer.end_line)))
        if len(out) >= n:
            break
    return out


def make_cases(workspace: Path, total: int, seed: int) -> list[QualityCase]:
    """Cross-file and in-file cases from every package, interleaved so that any first part of the list is a fair
    sample (a run cut short by ``--minutes`` still covers every package and both kinds)."""
    per_package = -(-total // (2 * len(TUNED)))
    groups: list[list[QualityCase]] = []
    for package in TUNED:
        groups.append(_cross_cases(workspace, package, per_package, seed))
        groups.append(_in_file_cases(workspace, package, per_package, seed))
    cases: list[QualityCase] = []
    for i in range(max(len(g) for g in groups)):
        cases += [g[i] for g in groups if i < len(g)]
    return cases[:total]


def request_for(workspace: Path, case: QualityCase) -> CompletionRequest:
    lines = (workspace / case.file).read_text(encoding="utf-8").split("\n")
    lines[case.line] = lines[case.line][: case.col]
    return CompletionRequest(uri=(workspace / case.file).as_uri(), path=case.file, text="\n".join(lines),
                             line=case.line, col=case.col, version=1, language="python")


def oracle_chunk(workspace: Path, case: QualityCase) -> OracleChunk:
    lines = (workspace / case.answer_path).read_text(encoding="utf-8").split("\n")
    start, end = case.answer_lines
    body = lines[start - 1: min(end, start + 40)]
    return OracleChunk(f"oracle:{case.answer_path}:{start}", case.answer_path, "\n".join(body), case.name)


async def evaluate(workspace: Path, index_dir: Path, cases: list[QualityCase], configs: list[str],
                   scratch: Path, minutes: float = 0.0, servers: dict[str, dict[str, str]] | None = None,
                   ) -> list[dict[str, Any]]:
    """Each case through each configuration; ``servers``: a column per model-server backend (its label: the
    settings that point the default streaming engine at the server), beside the embedded columns."""
    # The defaults (SRAG_* variables may change one setting, to compare it with the default), on the embedded model.
    settings = replace(from_environment(print), backend="embedded", cache_dir=str(scratch / "cache"),
                       index_dir=str(index_dir), trace=False)
    oracle = OracleContext()

    def quiet(message: str, kind: types.MessageType) -> None:
        print(f"  {message}", file=sys.stderr)

    runtime = Runtime(settings, workspace, report=quiet, index_worker=False)
    if not await runtime.start_models() or runtime.engine is None:
        raise SystemExit(f"bench_quality: no model: {runtime.backend_error}")
    base, context = runtime.engine, runtime.retrieval
    engines: dict[str, CompletionEngine] = {}
    for name, strategy, ctx in (("local", "local", context), ("streaming", "streaming", context),
                                ("sequential", "sequential", context), ("oracle", "sequential", oracle)):
        engines[name] = CompletionEngine(base.draft, base.refine, replace(settings, strategy=strategy),
                                         Tracer(None), ctx, repo_name=workspace.name)
    served: list[Runtime] = []
    for label, overrides in (servers or {}).items():
        served_runtime = Runtime(replace(settings, **overrides), workspace, report=quiet, index_worker=False)
        if not await served_runtime.start_models() or served_runtime.engine is None:
            raise SystemExit(f"bench_quality: {label}: {served_runtime.backend_error}")
        served.append(served_runtime)
        engines[label] = CompletionEngine(served_runtime.engine.draft, served_runtime.engine.refine,
                                          replace(settings, **overrides, strategy="streaming"), Tracer(None), context,
                                          repo_name=workspace.name)
    rows = []
    started = time.perf_counter()
    for i, case in enumerate(cases):
        if minutes and time.perf_counter() - started > minutes * 60:
            print(f"  stopped after {minutes} minutes: {i} of {len(cases)} cases", file=sys.stderr)
            break
        row: dict[str, Any] = {**asdict(case)}
        for name in configs:
            if name == "draft" or (name == "oracle" and case.kind != "cross"):
                continue
            engine = engines[name]
            request = request_for(workspace, case)
            engine.forget(request.uri)
            if name == "oracle":
                oracle.chunk = oracle_chunk(workspace, case)
            outcome = await engine.run(request, lambda s: None)
            row[name] = outcome.suggestion.text
            row[f"{name}_stage"] = outcome.suggestion.stage
            if name == "streaming":
                row["draft"] = outcome.draft_text
                row["refined_candidate"] = outcome.refined_text  # judged, whether shown or kept off screen
                row["score_margin"] = outcome.trace.numbers.get("score_margin")
                row["streaming_flags"] = {k: v for k, v in outcome.trace.flags.items()
                                          if k in ("kept_shown", "refined", "skipped_draft", "unknown_in_draft")}
                row["streaming_decisions"] = outcome.trace.flags.get("decisions", [])
        rows.append(row)
        elapsed = time.perf_counter() - started
        print(f"  {i + 1}/{len(cases)} {case.kind} {case.file}:{case.line + 1} ({elapsed:.0f} s)", file=sys.stderr)
    for served_runtime in served:
        await served_runtime.close()
    await runtime.close()
    return rows


def score(text: str | None, case: dict[str, Any]) -> dict[str, float] | None:
    if text is None:
        return None
    got = text.split("\n", 1)[0].strip()
    truth = case["truth"].strip()
    out = {"exact": float(got == truth), "es": similarity(got, truth)}
    if case["kind"] == "cross":
        out["names"] = float(bool(case["name"]) and case["name"] in got)
    return out


def bootstrap(diffs: list[float], rounds: int = 2000, seed: int = 3) -> tuple[float, float]:
    if not diffs:
        return (float("nan"), float("nan"))
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds)]


def summarize(rows: list[dict[str, Any]], configs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("cross", "in-file"):
        subset = [r for r in rows if r["kind"] == kind]
        table: dict[str, Any] = {}
        for name in configs:
            scores = [(score(r.get(name), r), score(r.get("draft"), r)) for r in subset]
            scores = [(s, d) for s, d in scores if s is not None and d is not None]
            if not scores:
                continue
            mine = [s for s, _ in scores]
            entry = {
                "n": len(mine),
                "exact": statistics.fmean(s["exact"] for s in mine),
                "edit_similarity": statistics.fmean(s["es"] for s in mine),
                "gained_vs_draft": sum(1 for s, d in scores if s["exact"] and not d["exact"]),
                "lost_vs_draft": sum(1 for s, d in scores if d["exact"] and not s["exact"]),
                "es_diff_vs_draft_ci95": bootstrap([s["es"] - d["es"] for s, d in scores]),
            }
            if kind == "cross":
                entry["names_symbol"] = statistics.fmean(s["names"] for s in mine)
            table[name] = entry
        out[kind] = table
    cross = out.get("cross", {})
    if {"local", "streaming", "oracle"} <= set(cross):
        possible = cross["oracle"]["edit_similarity"] - cross["local"]["edit_similarity"]
        got = cross["streaming"]["edit_similarity"] - cross["local"]["edit_similarity"]
        out["oracle_gap"] = {"possible_gain": possible, "captured_by_streaming": got,
                             "share_captured": got / possible if possible > 0 else None}
    return out


def print_table(summary: dict[str, Any], configs: list[str]) -> None:
    for kind in ("cross", "in-file"):
        table = summary.get(kind, {})
        if not table:
            continue
        print(f"\n{kind} cases (first line of the suggestion against the real line)")
        header = (f"{'config':>12} {'n':>4} {'exact':>6} {'edit sim':>9} {'names':>6} {'gained':>7} {'lost':>5} "
                  f"{'ES diff vs draft, 95% CI':>26}")
        print(header)
        print("-" * len(header))
        for name in configs:
            e = table.get(name)
            if e is None:
                continue
            lo, hi = e["es_diff_vs_draft_ci95"]
            names = f"{e['names_symbol']:.2f}" if "names_symbol" in e else "-"
            print(f"{name:>12} {e['n']:>4} {e['exact']:>6.3f} {e['edit_similarity']:>9.3f} {names:>6} "
                  f"{e['gained_vs_draft']:>7} {e['lost_vs_draft']:>5} {f'[{lo:+.3f}, {hi:+.3f}]':>26}")
    gap = summary.get("oracle_gap")
    if gap:
        share = gap["share_captured"]
        print(f"\noracle gap (cross-file): retrieval could add {gap['possible_gain']:+.3f} edit similarity over local "
              f"context; streaming's final captures {gap['captured_by_streaming']:+.3f}"
              + (f" ({share:.0%} of it)" if share is not None else ""))


def draw(summary: dict[str, Any], configs: list[str], path: Path) -> None:
    """Edit similarity and exact matches per configuration, cross-file beside in-file, with the oracle's line."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    kinds = [k for k in ("cross", "in-file") if k in summary]
    fig, axes = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4.2), squeeze=False)
    for ax, kind in zip(axes[0], kinds, strict=True):
        table = summary[kind]
        names = [c for c in configs if c in table]
        xs = range(len(names))
        es = [table[c]["edit_similarity"] for c in names]
        exact = [table[c]["exact"] for c in names]
        ax.bar([x - 0.2 for x in xs], es, width=0.4, label="edit similarity", color="#4c72b0")
        ax.bar([x + 0.2 for x in xs], exact, width=0.4, label="exact match", color="#dd8452")
        for x, value in zip(xs, es, strict=True):
            ax.text(x - 0.2, value + 0.01, f"{value:.3f}", ha="center", fontsize=8)
        ax.set_xticks(list(xs), names)
        ax.set_ylim(0, 1)
        ax.set_title(f"{kind} cases (n={table[names[0]]['n']})" if names else kind)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle("First line of the suggestion against the real line (default settings)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--configs", default="local,draft,streaming,sequential,oracle")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "srag-bench-quality"))
    parser.add_argument("--name", default="quality")
    parser.add_argument("--minutes", type=float, default=0.0, help="stop after this long (0: run every case)")
    parser.add_argument("--backends", default="", help="also the streaming engine on a model server, a column each: "
                        "llama-server and/or openai, against one llama-server this run starts on the same GGUF")
    args = parser.parse_args(argv)
    configs = [c for c in args.configs.split(",") if c in CONFIGS]
    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in SERVER_BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; known: {', '.join(SERVER_BACKENDS)}")
    work = Path(args.work)
    workspace = work / "packages"
    install_packages(workspace, TUNED)
    cases = make_cases(workspace, args.cases, args.seed)
    index_dir = work / "index"
    subprocess.run([sys.executable, "-m", "indexer.cli", "build", str(workspace), "--index-dir", str(index_dir)],
                   check=True, stdout=subprocess.DEVNULL)
    print(f"{len(cases)} cases ({sum(c.kind == 'cross' for c in cases)} cross-file)", file=sys.stderr)
    with contextlib.ExitStack() as stack:
        servers: dict[str, dict[str, str]] = {}
        if backends:
            from benchmarks.llama_server import FOR_SRAG, LlamaServer, build, model_file

            server = LlamaServer(build(), model_file(), log_path=work / "llama-server.log",
                                 extra_flags=FOR_SRAG).start()
            stack.callback(server.stop)
            for backend in backends:
                servers[backend] = {"backend": backend, "llama_server_url": server.url,
                                    "openai_base_url": f"{server.url}/v1", "openai_model": str(model_file())}
        configs += backends
        rows = asyncio.run(evaluate(workspace, index_dir, cases, configs, work, args.minutes, servers))
    summary = summarize(rows, configs)
    changed = {k: v for k, v in os.environ.items() if k.startswith("SRAG_")}
    report = {"cases": len(rows), "cases_planned": len(cases),
              "settings": {"defaults (embedded), except": changed,
                           "server columns (streaming, NOT the default backend)": {b: b for b in backends}},
              "summary": summary,
              "rows": rows}
    print(f"\n{len(rows)} of {len(cases)} cases; settings: the defaults"
          + (f", except (NOT the default): {changed}" if changed else ""))
    print_table(summary, configs)
    save(args.name, report, lambda path: draw(summary, configs, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
