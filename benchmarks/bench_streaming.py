"""Streaming vs sequential, side by side in one run, through the real daemon over LSP, on the default settings.

For cross-file cursor positions in real code (requests, flask, jinja2, werkzeug: the cases of the
retrieval evaluation, where the answer needs a name defined in another module), the daemon runs in
`streaming` and in `sequential` mode with the same model, index and positions, at artificial retrieval
delays of 0, 100 and 500 ms (the `retrieval_delay_ms` setting, for benchmarks). A client that opted in to
streaming measures the time to the first visible character (the first `srag/suggestion` with text) and
to the final suggestion. The daemon's traces give its own overhead (request to the first model call, last
token to the client), whether the final text kept the draft's first line, and the identifiers in drafts
and final texts that the workspace does not define.

    .venv/bin/python -m benchmarks.bench_streaming [--cases 50] [--delays 0,100,500] [--model NAME]

Prints a table, writes benchmarks/results/streaming.json and benchmarks/results/streaming.png.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from benchmarks.lsp_session import as_dict, daemon_env, start_daemon
from benchmarks.report import save
from benchmarks.retrieval_cases import Case, all_cases, install_packages, sample_cases
from srag_lsp.trace import percentile

RESULTS = Path(__file__).resolve().parent / "results"


def build_index(workspace: Path, index_dir: Path) -> None:
    """The same index for every configuration (the headless CLI is quick when nothing changed)."""
    subprocess.run([sys.executable, "-m", "indexer.cli", "build", str(workspace), "--index-dir", str(index_dir)],
                   check=True, stdout=subprocess.DEVNULL)


async def warm_up(client: LanguageClient, workspace: Path, finished: dict[str, asyncio.Event]) -> None:
    """One untimed completion, so the first timed case doesn't pay for first-use costs (index handles, buffers)."""
    uri = (workspace / "_srag_warmup.py").as_uri()
    text = "import os\n\n\ndef list_python_files(root):\n    return [name for name in os.listdir(root) if "
    finished[uri] = asyncio.Event()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    lines = text.split("\n")
    await client.text_document_inline_completion_async(types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=len(lines) - 1, character=len(lines[-1])),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(finished[uri].wait(), 180)
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))


async def run_config(workspace: Path, index_dir: Path, cases: list[Case], strategy: str, delay_ms: int,
                     model: str, scratch: Path) -> list[dict[str, Any]]:
    cache = scratch / f"cache-{strategy}-{delay_ms}"
    cache.mkdir(parents=True, exist_ok=True)
    # The default settings: only paths, the backend, the model and what this benchmark compares are set.
    env = daemon_env(cache, index_dir, SRAG_EMBEDDED_MODEL=model, SRAG_STRATEGY=strategy,
                     SRAG_RETRIEVAL_DELAY_MS=str(delay_ms))
    events: dict[str, list[tuple[float, dict[str, Any]]]] = {}
    finished: dict[str, asyncio.Event] = {}

    def on_suggestion(ls: Any, params: Any) -> None:
        p = as_dict(params)
        uri = p["uri"]
        events.setdefault(uri, []).append((time.perf_counter(), p))
        if p.get("final"):
            finished.setdefault(uri, asyncio.Event()).set()

    client = await start_daemon(workspace, env, on_suggestion)
    await warm_up(client, workspace, finished)
    rows: list[dict[str, Any]] = []
    for i, case in enumerate(cases):
        path = workspace / case.file
        uri = path.as_uri()
        finished[uri] = asyncio.Event()
        events[uri] = []  # cases in the same file share the uri: count only this request's notifications
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=case.text)))
        lines = case.text.split("\n")
        t0 = time.perf_counter()
        await client.text_document_inline_completion_async(types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=len(lines) - 1, character=len(lines[-1])),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked)))
        try:
            await asyncio.wait_for(finished[uri].wait(), 180)
        except TimeoutError:
            print(f"  case {i}: no final suggestion within 180 s", file=sys.stderr)
        seen = events.get(uri, [])
        first_visible = next(((t - t0) * 1000 for t, p in seen if p["text"].strip()), None)
        final = next(((t - t0) * 1000, p) for t, p in reversed(seen) if p.get("final")) if any(
            p.get("final") for _, p in seen) else (None, {})
        rows.append({"case": i, "file": case.file, "name": case.name, "first_visible_ms": first_visible,
                     "final_ms": final[0], "final_text": final[1].get("text", ""),
                     "final_stage": final[1].get("stage"), "id": final[1].get("id")})
        client.text_document_did_close(types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=uri)))
    await client.shutdown_session()
    await client.stop()
    traces = {}
    trace_file = cache / "traces" / "trace.jsonl"
    if trace_file.exists():
        for line in trace_file.read_text().splitlines():
            record = json.loads(line)
            traces[record["id"]] = record
    for row in rows:
        trace = traces.get(row["id"] or "", {})
        row["trace"] = {"events": trace.get("events", {}), "numbers": trace.get("numbers", {}),
                        "flags": trace.get("flags", {})}
    return rows


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    fv = [r["first_visible_ms"] for r in rows if r["first_visible_ms"] is not None]
    fin = [r["final_ms"] for r in rows if r["final_ms"] is not None]
    nums = [r["trace"]["numbers"] for r in rows]
    flags = [r["trace"]["flags"] for r in rows]
    kept = [f["kept_draft_first_line"] for f in flags if "kept_draft_first_line" in f]
    unk_draft = [n["unknown_identifiers_draft"] for n in nums if "unknown_identifiers_draft" in n]
    unk_final = [n["unknown_identifiers_final"] for n in nums if "unknown_identifiers_final" in n]
    over_first = [n["overhead_first_call_ms"] for n in nums if "overhead_first_call_ms" in n]
    over_last = [n["overhead_last_token_ms"] for n in nums if "overhead_last_token_ms" in n]
    reuse_total = sum(n.get("prompt_tokens", 0) for n in nums)
    reuse_eval = sum(n.get("prompt_evaluated", 0) for n in nums)
    drafted = [r["first_visible_ms"] for r in rows
               if r["first_visible_ms"] is not None and not r["trace"]["flags"].get("skipped_draft")]
    cached = [r["first_visible_ms"] for r in rows
              if r["first_visible_ms"] is not None and r["trace"]["flags"].get("skipped_draft")]
    return {
        "n": len(rows),
        "first_visible_p50": percentile(fv, 0.5), "first_visible_p95": percentile(fv, 0.95),
        # streaming only: requests that drafted from local context vs. those whose scope was in the
        # retrieval cache (the first generation already had context, no draft)
        "drafted": len(drafted), "first_visible_p50_drafted": percentile(drafted, 0.5),
        "cache_hits": len(cached), "first_visible_p50_cache_hit": percentile(cached, 0.5),
        "final_p50": percentile(fin, 0.5), "final_p95": percentile(fin, 0.95),
        "kept_draft_first_line": (sum(kept) / len(kept)) if kept else None,
        "unknown_ids_draft_mean": statistics.fmean(unk_draft) if unk_draft else None,
        "unknown_ids_final_mean": statistics.fmean(unk_final) if unk_final else None,
        "overhead_first_call_p95": percentile(over_first, 0.95),
        "overhead_last_token_p95": percentile(over_last, 0.95),
        "overhead_first_call_p50": percentile(over_first, 0.5),
        "prompt_reuse": (1 - reuse_eval / reuse_total) if reuse_total else None,
        "refined": sum(1 for f in flags if f.get("refined")),
    }


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def print_table(report: dict[str, Any]) -> None:
    print(f"\nstreaming vs sequential: {report['cases']} cursor positions, model {report['model']}\n")
    header = (f"{'delay':>6} {'strategy':>10} {'first p50':>10} {'first p95':>10} {'final p50':>10} "
              f"{'final p95':>10} {'kept 1st':>9} {'unk draft':>9} {'unk final':>9} {'ovh call':>8} {'ovh last':>8} "
              f"{'reuse':>6}")
    print(header)
    print("-" * len(header))
    for delay, by_strategy in report["results"].items():
        for strategy, s in by_strategy.items():
            print(f"{delay:>6} {strategy:>10} {fmt(s['first_visible_p50']):>10} {fmt(s['first_visible_p95']):>10} "
                  f"{fmt(s['final_p50']):>10} {fmt(s['final_p95']):>10} {fmt(s['kept_draft_first_line'], 2):>9} "
                  f"{fmt(s['unknown_ids_draft_mean'], 2):>9} {fmt(s['unknown_ids_final_mean'], 2):>9} "
                  f"{fmt(s['overhead_first_call_p95'], 1):>8} {fmt(s['overhead_last_token_p95'], 1):>8} "
                  f"{fmt(s['prompt_reuse'], 2):>6}")
    print("\nratios streaming/sequential (p50, p95):")
    for delay, ratio in report["ratios"].items():
        print(f"  delay {delay:>4} ms: first visible {fmt(ratio['first_p50'], 2)}, {fmt(ratio['first_p95'], 2)}; "
              f"final {fmt(ratio['final_p50'], 2)}, {fmt(ratio['final_p95'], 2)}")
    print("(times in ms; 'kept 1st': share of refined finals that kept the draft's first line; 'unk': identifiers "
          "the workspace does not define, mean per suggestion; 'ovh call' / 'ovh last': the daemon's own overhead p95, "
          "request to the first model call and last token to the client; 'reuse': share of prompt tokens served "
          "from the KV cache)")
    for delay, by_strategy in report["results"].items():
        s = by_strategy.get("streaming")
        if s and s.get("drafted") is not None:
            print(f"  streaming at {delay} ms: {s['drafted']} drafted (first visible p50 "
                  f"{fmt(s['first_visible_p50_drafted'])}), {s['cache_hits']} skipped the draft (p50 "
                  f"{fmt(s['first_visible_p50_cache_hit'])})")


def draw(report: dict[str, Any], rows: dict[str, dict[str, list[dict[str, Any]]]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)", file=sys.stderr)
        return
    delays = list(rows)
    fig, axes = plt.subplots(1, len(delays), figsize=(5 * len(delays), 4), sharey=True)
    if len(delays) == 1:
        axes = [axes]
    for ax, delay in zip(axes, delays, strict=True):
        data, labels = [], []
        for strategy in ("streaming", "sequential"):
            for metric, name in (("first_visible_ms", "first"), ("final_ms", "final")):
                data.append([r[metric] for r in rows[delay][strategy] if r[metric] is not None])
                labels.append(f"{strategy[:3]}\n{name}")
        ax.boxplot(data, tick_labels=labels)
        ax.set_title(f"retrieval delay {delay} ms")
        ax.set_ylabel("ms")
    fig.suptitle(f"streaming vs sequential ({report['cases']} positions, {report['model']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def ratios_of(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    for delay, s in results.items():
        st, sq = s["streaming"], s["sequential"]
        out[delay] = {
            "first_p50": st["first_visible_p50"] / sq["first_visible_p50"] if sq["first_visible_p50"] else None,
            "first_p95": st["first_visible_p95"] / sq["first_visible_p95"] if sq["first_visible_p95"] else None,
            "final_p50": st["final_p50"] / sq["final_p50"] if sq["final_p50"] else None,
            "final_p95": st["final_p95"] / sq["final_p95"] if sq["final_p95"] else None,
        }
    return out


def resummarize(path: Path, name: str) -> int:
    """Times as the daemon's traces recorded them (arrival to first visible text / to the final text)."""
    data = json.loads(path.read_text())
    rows = data["rows"]
    for by_strategy in rows.values():
        for got in by_strategy.values():
            for row in got:
                events = row["trace"]["events"]
                row["first_visible_ms"] = events.get("first_visible")
                row["final_ms"] = events.get("done")
    results = {d: {st: summarize(r) for st, r in by.items()} for d, by in rows.items()}
    report = {**{k: v for k, v in data.items() if k != "rows"}, "results": results, "ratios": ratios_of(results),
              "timing_source": "daemon traces"}
    (RESULTS / f"{name}.json").write_text(json.dumps({**report, "rows": rows}, indent=1, default=str))
    draw(report, rows, RESULTS / f"{name}.png")
    print_table(report)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--delays", default="0,100,500")
    parser.add_argument("--model", default="qwen2.5-coder-0.5b")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "srag-bench-streaming"))
    parser.add_argument("--name", default="streaming", help="results file name (benchmarks/results/NAME.json/.png)")
    parser.add_argument("--resummarize", metavar="JSON",
                        help="recompute the table from a results file's rows (daemon-side times from the traces)")
    args = parser.parse_args(argv)
    if args.resummarize:
        return resummarize(Path(args.resummarize), args.name)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    roots = install_packages(work / "packages")
    workspace = work / "packages"
    cases: list[Case] = []
    per_package = -(-args.cases // len(roots))  # ceil: at least --cases positions in all
    for package, root in roots.items():  # the cases' paths are relative to the package's folder
        for case in sample_cases(all_cases(root, package), per_package, args.seed):
            case.file = f"{package}/{case.file}"
            cases.append(case)
    index_dir = work / "index"
    build_index(workspace, index_dir)
    delays = [int(d) for d in args.delays.split(",")]
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    results: dict[str, dict[str, Any]] = {}
    for delay in delays:
        rows[str(delay)] = {}
        results[str(delay)] = {}
        for strategy in ("streaming", "sequential"):
            print(f"running {strategy} at delay {delay} ms over {len(cases)} positions...", file=sys.stderr)
            got = asyncio.run(run_config(workspace, index_dir, cases, strategy, delay, args.model, work))
            rows[str(delay)][strategy] = got
            results[str(delay)][strategy] = summarize(got)
    ratios = ratios_of(results)
    report = {"cases": len(cases), "model": args.model, "results": results, "ratios": ratios,
              "machine": {"cpus": os.cpu_count()}}
    print_table(report)
    save(args.name, {**report, "rows": rows}, lambda path: draw(report, rows, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
