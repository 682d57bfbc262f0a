"""A typing session through the real daemon over LSP, on the default settings: what a user sees while typing.

Real lines of four packages (requests, flask, jinja2, werkzeug) are deleted and typed back one character at a
time at a steady cadence, as a user would: each keystroke is an incremental `didChange`, the previous
`inlineCompletion` is cancelled with `$/cancelRequest` (as VS Code does) and a new one is sent. Before each line
the cursor jumps there (the line's text is deleted): that request is cold. The user rests `--rest-ms` there (runs
at 0 and 1000 ms), then types at the cadence; the user never waits for the final text. The same lines run through
`streaming` (the default), `sequential` (retrieve, then generate) and `local` (no retrieval), one daemon each,
with nothing but paths, the backend and the strategy set, and through `plain`: the default daemon with a plain
client that does not opt in to streaming and draws only `inlineCompletion` answers. The first 16 keys at the new
place are reported apart from the whole line.

The client keeps a model of the screen: a suggestion for the current document version is drawn when it arrives
(the response, or a `srag/suggestion` notification); typing a character it shows keeps the rest on screen (as
VS Code does); typing anything else clears it.

    .venv/bin/python -m benchmarks.bench_typing [--lines 40] [--cadence-ms 120] [--rest-ms 0 1000]
        [--strategies streaming,sequential,local,plain] [--backends llama-server,openai]

With ``--backends``, the default strategy also runs on a model server, a column each (NOT the default backend):
``llama-server`` (``/infill``) and ``openai`` (``/v1/completions``), each against its own fresh llama-server built
from the same llama.cpp and CPU flags as the embedded wheel, on the same GGUF; the server's CPU time is counted.

Prints a table per rest; writes benchmarks/results/typing_rest<MS>.json and .png for each rest (typing.json and
typing.png with a single --rest-ms): a timeline of one line, distributions.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import contextlib
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from benchmarks.lsp_session import (
    as_dict,
    cpu_seconds,
    daemon_env,
    daemon_pid,
    read_traces,
    start_daemon,
    stop_daemon,
    utf16_len,
)
from benchmarks.report import save
from benchmarks.retrieval_cases import install_packages

SERVER_BACKENDS = ("llama-server", "openai")  # --backends: the default strategy on a llama-server

TUNED = {"requests": "2.32.3", "flask": "3.1.0", "jinja2": "3.1.4", "werkzeug": "3.1.3"}
REALISTIC_REST_MS = 2000  # a user rests at a new place about this long at most before typing
LAST_KEY_WAIT_S = 3.0  # after the last key of a line, how long the user looks before moving on
FIRST_KEYS = 16  # the keys at a new place, reported apart from the whole line
PLAIN = "plain"  # a client without streaming: only inlineCompletion answers are drawn


@dataclass(slots=True)
class LineCase:
    package: str
    file: str  # workspace-relative
    line: int  # 0-based
    indent: str
    body: str  # what is typed back

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Keystroke:
    line_case: int
    n: int
    char: str
    version: int
    sent: float
    visible_ms: float | None = None  # first non-empty suggestion for this version, before the next key
    on_screen: bool = False  # when the next key came
    right: bool = False
    stage: str = ""
    request_id: str = ""


@dataclass
class Screen:
    """What the editor shows: the suggestion for (uri, version), if any."""

    uri: str = ""
    version: int = -1
    text: str = ""
    stage: str = ""
    log: list[tuple[float, int, str]] = field(default_factory=list)  # (time, chars shown, stage)

    def show(self, text: str, stage: str) -> None:
        self.text, self.stage = text, stage
        self.log.append((time.perf_counter(), len(text.split("\n", 1)[0]), stage))


def pick_lines(workspace: Path, n: int, seed: int, packages: Iterable[str] = tuple(TUNED),
               lengths: tuple[int, int] = (12, 70)) -> list[LineCase]:
    """Single-line statements inside functions (assignments, returns, calls), one per file, spread over packages."""
    rng = random.Random(seed)
    packages = list(packages)
    per_package = -(-n // len(packages))
    out: list[LineCase] = []
    for package in packages:
        candidates: list[LineCase] = []
        for path in sorted((workspace / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8", errors="replace")
            lines = text.split("\n")
            if len(lines) < 80:
                continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            found: list[LineCase] = []
            for fn in ast.walk(tree):
                if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(fn):
                    if not isinstance(node, ast.Assign | ast.Return | ast.AugAssign | ast.Expr):
                        continue
                    if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call):
                        continue
                    if node.lineno != node.end_lineno or node.lineno < 15:
                        continue
                    raw = lines[node.lineno - 1]
                    body = raw.strip()
                    if not lengths[0] <= len(body) <= lengths[1] or not body.isascii() or "#" in body:
                        continue
                    found.append(LineCase(package, path.relative_to(workspace).as_posix(), node.lineno - 1,
                                          raw[: len(raw) - len(raw.lstrip())], body))
            if found:
                candidates.append(rng.choice(found))
        rng.shuffle(candidates)
        out.extend(candidates[:per_package])
    return out[:n]


def pct(values: list[float], q: float) -> float:
    """A percentile where ``inf`` (no suggestion before the next key) counts as the slowest answer."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    if math.isinf(ordered[hi]):
        return ordered[hi] if k > lo else ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


class Session:
    """One daemon, one strategy: the lines typed back, the screen modelled, every keystroke recorded."""

    def __init__(self, client: Any, workspace: Path, cadence_s: float, rest_s: float) -> None:
        self.client = client
        self.workspace = workspace
        self.cadence_s = cadence_s
        self.rest_s = rest_s
        self.first_refined: float | None = None
        self.screen = Screen()
        self.versions: dict[str, int] = {}
        self.texts: dict[str, list[str]] = {}
        self.keys: list[Keystroke] = []
        self.current: Keystroke | None = None
        self.position = (0, 0)
        client.feature("srag/suggestion")(lambda ls, params: self.on_suggestion(ls, params))

    def on_suggestion(self, _ls: Any, params: Any) -> None:
        p = as_dict(params)
        pos = p["position"]
        if p["uri"] != self.screen.uri or p["version"] != self.versions.get(p["uri"]) or \
                (pos["line"], pos["character"]) != self.position:
            return  # stale: another version or place
        self.draw(p["text"], p["stage"])

    def draw(self, text: str, stage: str) -> None:
        self.screen.show(text, stage)
        if stage == "refined" and text.strip() and self.first_refined is None:
            self.first_refined = time.perf_counter()
        key = self.current
        if key is not None and key.visible_ms is None and text.strip():
            key.visible_ms = (time.perf_counter() - key.sent) * 1000
            key.stage = stage

    def open(self, case: LineCase) -> str:
        path = self.workspace / case.file
        uri = path.as_uri()
        if uri not in self.versions:
            text = path.read_text(encoding="utf-8", errors="replace")
            self.versions[uri] = 1
            self.texts[uri] = text.split("\n")
            self.client.text_document_did_open(types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
        return uri

    def edit(self, uri: str, line: int, start: int, end: int, new: str) -> None:
        lines = self.texts[uri]
        old = lines[line]
        lines[line] = old[:start] + new + old[end:]
        self.versions[uri] += 1
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(line=line, character=utf16_len(old[:start])),
                                  end=types.Position(line=line, character=utf16_len(old[:end]))),
                text=new)]))

    def ask(self, uri: str, line: int, col: int, request_id: str) -> asyncio.Future[Any]:
        self.position = (line, col)
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=line, character=col),
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic))
        future = self.client.protocol.send_request("textDocument/inlineCompletion", params, msg_id=request_id)
        version = self.versions[uri]

        def answered(f: asyncio.Future[Any]) -> None:
            if f.cancelled() or f.exception() is not None or self.versions.get(uri) != version:
                return
            result = f.result()
            items = result if isinstance(result, list) else (getattr(result, "items", None) or [])
            text = getattr(items[0], "insert_text", "") if items else ""
            if isinstance(text, str) and text.strip():
                self.draw(text, self.screen.stage or "response")

        future.add_done_callback(answered)
        return future

    def cancel(self, future: asyncio.Future[Any] | None, request_id: str) -> None:
        if future is not None and not future.done():
            self.client.protocol.notify("$/cancelRequest", types.CancelParams(id=request_id))

    async def line(self, i: int, case: LineCase) -> dict[str, Any]:
        uri = self.open(case)
        self.screen = Screen(uri=uri, version=self.versions[uri])
        old = self.texts[uri][case.line]
        col0 = len(case.indent)
        self.edit(uri, case.line, col0, len(old), "")  # the cursor jumps here: the line's text is gone
        self.screen.version = self.versions[uri]
        cold_id = f"cold-{i}"
        t0 = time.perf_counter()
        self.first_refined = None
        cold_key = Keystroke(i, -1, "", self.versions[uri], t0, request_id=cold_id)
        self.current = cold_key
        future = self.ask(uri, case.line, utf16_len(case.indent), cold_id)
        await asyncio.sleep(self.rest_s)  # the user rests at the new place, then types: never waits for the final
        cold: dict[str, Any] = {"case": i, "text": self.screen.text, "stage": self.screen.stage, "id": cold_id}
        previous_id = cold_id
        typed = ""
        line_start = time.perf_counter()
        timeline: list[tuple[float, str]] = []
        for n, char in enumerate(case.body):
            self.cancel(future, previous_id)
            col = col0 + len(typed)
            self.edit(uri, case.line, col, col, char)
            typed += char
            shown = self.screen.text
            self.screen.version = self.versions[uri]
            if shown.startswith(char) and len(shown) > 1:
                self.screen.show(shown[1:], self.screen.stage)  # typed through: the rest stays on screen
            else:
                self.screen.show("", "")
            request_id = f"k-{i}-{n}"
            key = Keystroke(i, n, char, self.versions[uri], time.perf_counter(), request_id=request_id)
            if self.screen.text.strip():
                key.visible_ms, key.stage = 0.0, "typed-through"
            self.current = key
            self.keys.append(key)
            timeline.append((key.sent - line_start, char))
            future = self.ask(uri, case.line, utf16_len(case.indent + typed), request_id)
            previous_id = request_id
            await asyncio.sleep(self.cadence_s)
            rest = case.body[len(typed):]
            shown_line = first_line(self.screen.text)
            key.on_screen = bool(shown_line.strip())
            key.right = key.on_screen and bool(rest) and rest.startswith(shown_line)
            if key.visible_ms is not None and key.visible_ms > self.cadence_s * 1000:
                key.visible_ms = None  # it came after the next key would have: not seen for this keystroke
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(future), LAST_KEY_WAIT_S)
        self.current = None
        # the new place: its first text (during the rest, else 0 once the keys have something to show), and the
        # first context-aware (refined) text on screen after arrival, at any version
        cold["first_ms"] = cold_key.visible_ms
        cold["final_ms"] = (self.first_refined - t0) * 1000 if self.first_refined is not None else None
        return {"cold": cold, "timeline": timeline, "screen_log": [(t - line_start, n, s) for t, n, s in
                                                                   self.screen.log]}


async def run_strategy(workspace: Path, index_dir: Path, cases: list[LineCase], strategy: str, cadence_ms: int,
                       rest_ms: int, scratch: Path, settings: dict[str, str], streaming: bool = True) -> dict[str, Any]:
    cache = scratch / f"cache-{strategy}"
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    with contextlib.ExitStack() as stack:
        server_pid: int | None = None
        if settings.get("SRAG_BACKEND") in SERVER_BACKENDS:  # a fresh llama-server: no cache from another column
            from benchmarks.llama_server import FOR_SRAG, LlamaServer, build, model_file

            server = LlamaServer(build(), model_file(), log_path=cache / "llama-server.log",
                                 extra_flags=FOR_SRAG).start()
            stack.callback(server.stop)
            server_pid = server.pid
            settings = {**settings, "SRAG_LLAMA_SERVER_URL": server.url, "SRAG_OPENAI_BASE_URL": f"{server.url}/v1",
                        "SRAG_OPENAI_MODEL": str(model_file())}
        client = await start_daemon(workspace, daemon_env(cache, index_dir, **settings), streaming=streaming)
        session = Session(client, workspace, cadence_ms / 1000.0, rest_ms / 1000.0)
        pid = daemon_pid(client)
        cpu0 = cpu_seconds(pid) + cpu_seconds(server_pid)
        lines = []
        try:
            for i, case in enumerate(cases):
                print(f"  {strategy}: line {i + 1}/{len(cases)} {case.file}:{case.line + 1}", file=sys.stderr)
                lines.append(await session.line(i, case))
        finally:
            cpu = cpu_seconds(pid) + cpu_seconds(server_pid) - cpu0  # the server's work is the completion's too
            await stop_daemon(client)
    traces = read_traces(cache)
    evaluated = []  # every request's share of its prompt that the model evaluated (the rest came from the KV cache)
    for record in traces.values():
        numbers = record.get("numbers", {})
        if numbers.get("prompt_tokens"):
            evaluated.append(numbers.get("prompt_evaluated", 0) / numbers["prompt_tokens"])
    return {"keys": [asdict(k) for k in session.keys], "lines": lines, "cpu_s": cpu,
            "evaluated_share": evaluated,
            "traces": [{"events": r.get("events", {}), "numbers": r.get("numbers", {}),
                        "flags": {k: v for k, v in r.get("flags", {}).items() if k != "decisions"}}
                       for r in traces.values()]}


def summarize(run: dict[str, Any], cadence_ms: int) -> dict[str, Any]:
    keys = run["keys"]
    visible = [k["visible_ms"] if k["visible_ms"] is not None else math.inf for k in keys]
    colds = [line["cold"] for line in run["lines"]]
    cold_first = [c["first_ms"] if c["first_ms"] is not None else math.inf for c in colds]
    cold_final = [c["final_ms"] if c["final_ms"] is not None else math.inf for c in colds]
    n = max(1, len(keys))
    first = [k for k in keys if k["n"] < FIRST_KEYS]
    m = max(1, len(first))
    return {
        "keystrokes": len(keys),
        "visible_p50": pct(visible, 0.5), "visible_p95": pct(visible, 0.95),
        "on_screen_first16": sum(k["on_screen"] for k in first) / m,
        "right_first16": sum(k["right"] for k in first) / m,
        "on_screen": sum(k["on_screen"] for k in keys) / n,
        "right": sum(k["right"] for k in keys) / n,
        "typed_through": sum(1 for k in keys if k["stage"] == "typed-through") / n,
        "cold_first_p50": pct(cold_first, 0.5), "cold_first_p95": pct(cold_first, 0.95),
        "cold_final_p50": pct(cold_final, 0.5), "cold_final_p95": pct(cold_final, 0.95),
        "evaluated_share_p50": pct(run["evaluated_share"], 0.5) if run["evaluated_share"] else None,
        "cpu_s_per_key": run["cpu_s"] / n,
        "requests": len(run["traces"]),
    }


def fmt(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and math.isinf(value):
        return "never"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


ROWS = [
    ("keystroke -> visible p50 (ms)", "visible_p50", 0), ("keystroke -> visible p95 (ms)", "visible_p95", 0),
    ("first 16 keys: on screen at next key", "on_screen_first16", 2),
    ("first 16 keys: right at next key", "right_first16", 2),
    ("suggestion on screen at next key", "on_screen", 2), ("suggestion right at next key", "right", 2),
    ("kept by typing through", "typed_through", 2),
    ("cold request -> first text p50 (ms)", "cold_first_p50", 0),
    ("cold request -> first text p95 (ms)", "cold_first_p95", 0),
    ("new place -> refined on screen p50 (ms)", "cold_final_p50", 0),
    ("new place -> refined on screen p95 (ms)", "cold_final_p95", 0),
    ("prompt evaluated / prompt p50", "evaluated_share_p50", 3), ("CPU s per keystroke", "cpu_s_per_key", 3),
    ("requests traced", "requests", 0),
]


def print_table(report: dict[str, Any]) -> None:
    strategies = list(report["results"])
    print(f"\ntyping session: {report['lines']} lines, {report['keystrokes']} keystrokes at {report['cadence_ms']} ms "
          f"a key after a rest of {report['rest_ms']} ms at each new place, model {report['model']}, default "
          "settings except as listed:")
    for label, changed in report["settings"]["defaults, except"].items():
        note = ", ".join(f"{k}={v}" for k, v in changed.items() if k != "SRAG_STRATEGY")
        if changed.get("SRAG_BACKEND") in SERVER_BACKENDS:
            note += (" (its own fresh llama-server: SRAG_LLAMA_SERVER_URL, SRAG_OPENAI_BASE_URL and SRAG_OPENAI_MODEL "
                     "point at it)")
        print(f"  {label}: strategy {changed.get('SRAG_STRATEGY', 'streaming (default)')}"
              + (f"; NOT the default: {note}" if note else "")
              + ("; a plain client (no streaming, only inlineCompletion answers drawn)" if label.startswith(PLAIN)
                 else ""))
    if report["rest_ms"] > REALISTIC_REST_MS:
        print(f"  NOT a realistic user: a rest of {report['rest_ms']} ms lets most places finish their final text "
              "before the first key; use it only to compare with figures of the old user, who waited for it")
    print()
    header = f"{'':38}" + "".join(f"{s:>14}" for s in strategies)
    print(header)
    print("-" * len(header))
    for label, key, digits in ROWS:
        print(f"{label:38}" + "".join(f"{fmt(report['results'][s][key], digits):>14}" for s in strategies))
    print("('never': at that percentile the keystroke had no suggestion before the next key came, or the new place "
          "never showed a refined text while the line was typed)")


def draw(report: dict[str, Any], runs: dict[str, dict[str, Any]], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG", file=sys.stderr)
        return
    fig, (ax_t, ax_k, ax_c) = plt.subplots(1, 3, figsize=(17, 4.5))
    first = next(iter(runs))
    line = max(runs[first]["lines"], key=lambda ln: len(ln["timeline"]))
    for t, char in line["timeline"]:
        ax_t.axvline(t * 1000, color="#ccc", lw=0.6)
        ax_t.text(t * 1000, -1.5, char, ha="center", fontsize=7)
    xs = [t * 1000 for t, _, _ in line["screen_log"]]
    ys = [n for _, n, _ in line["screen_log"]]
    ax_t.step(xs, ys, where="post", color="#1f77b4")
    for t, n, stage in line["screen_log"]:
        if stage in ("draft", "refined", "typed-through"):
            ax_t.plot(t * 1000, n, "o", ms=3, color={"draft": "#999", "refined": "#d62728"}.get(stage, "#2ca02c"))
    ax_t.set_title(f"{first}: one line typed back (grey: keys; y: chars shown)")
    ax_t.set_xlabel("ms since the first key")
    data = [[k["visible_ms"] for k in runs[s]["keys"] if k["visible_ms"] is not None] for s in runs]
    ax_k.boxplot(data, tick_labels=list(runs))
    ax_k.set_title("keystroke -> visible (seen before the next key)")
    ax_k.set_ylabel("ms")
    cold = []
    labels = []
    for s in runs:
        cold.append([ln["cold"]["first_ms"] for ln in runs[s]["lines"] if ln["cold"]["first_ms"] is not None])
        cold.append([ln["cold"]["final_ms"] for ln in runs[s]["lines"] if ln["cold"]["final_ms"] is not None])
        labels += [f"{s[:5]}\nfirst", f"{s[:5]}\nfinal"]
    ax_c.boxplot(cold, tick_labels=labels)
    ax_c.set_title("cold request")
    ax_c.set_ylabel("ms")
    fig.suptitle(f"typing session, default settings ({report['lines']} lines, {report['cadence_ms']} ms a key)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def build_index(workspace: Path, index_dir: Path) -> None:
    subprocess.run([sys.executable, "-m", "indexer.cli", "build", str(workspace), "--index-dir", str(index_dir)],
                   check=True, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=40)
    parser.add_argument("--cadence-ms", type=int, default=120)
    parser.add_argument("--rest-ms", type=int, nargs="+", default=[0, 1000],
                        help="how long the user rests at each new place before typing (one run per value)")
    parser.add_argument("--strategies", default="streaming,sequential,local,plain")
    parser.add_argument("--compare", action="append", default=[], metavar="LABEL:SETTING=VALUE",
                        help="also run the default strategy with one setting changed, e.g. "
                             "gemma-draft:SRAG_DRAFT_MODEL=gemma3-270m (repeatable)")
    parser.add_argument("--backends", default="", help="also the default strategy on a model server, a column each: "
                        "llama-server and/or openai, each against its own fresh llama-server on the same GGUF")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "srag-bench-typing"))
    parser.add_argument("--name", default="typing", help="results file name (benchmarks/results/NAME.json/.png)")
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    workspace = work / "packages"
    install_packages(workspace, TUNED)
    cases = pick_lines(workspace, args.lines, args.seed)
    index_dir = work / "index"
    build_index(workspace, index_dir)
    configs: dict[str, dict[str, str]] = {s: {} if s == PLAIN else {"SRAG_STRATEGY": s}
                                          for s in args.strategies.split(",") if s}
    for item in args.compare:
        label, _, setting = item.partition(":")
        name, _, value = setting.partition("=")
        configs[label] = {name: value}
    for backend in (b for b in args.backends.split(",") if b):
        if backend not in SERVER_BACKENDS:
            parser.error(f"unknown backend {backend!r}; known: {', '.join(SERVER_BACKENDS)}")
        configs[backend] = {"SRAG_BACKEND": backend}
    load = {"start": os.getloadavg()}
    written = []
    for rest in args.rest_ms:
        runs: dict[str, dict[str, Any]] = {}
        for label, settings in configs.items():
            print(f"typing {len(cases)} lines after a {rest} ms rest: {label} {settings}...", file=sys.stderr)
            runs[label] = asyncio.run(run_strategy(workspace, index_dir, cases, label, args.cadence_ms, rest, work,
                                                   settings, streaming=not label.startswith(PLAIN)))
        results = {s: summarize(r, args.cadence_ms) for s, r in runs.items()}
        report = {"lines": len(cases), "keystrokes": sum(len(c.body) for c in cases), "cadence_ms": args.cadence_ms,
                  "rest_ms": rest, "model": "qwen2.5-coder-0.5b (embedded default)",
                  "settings": {"defaults, except": configs}, "results": results, "load_average": os.getloadavg(),
                  "cases": [c.to_json() for c in cases]}
        print_table(report)
        name = args.name if len(args.rest_ms) == 1 else f"{args.name}_rest{rest}"
        written.append(name)
        save(name, {**report, "runs": runs}, lambda path, report=report, runs=runs: draw(report, runs, path))
    print(f"load average at start: {load['start']}, at the end: {os.getloadavg()}; results: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
