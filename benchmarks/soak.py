"""Soak: simulated typing with completions against the embedded model while files are edited, renamed and deleted.

The real daemon (`srag-lsp --stdio`, embedded model, index worker on) serves a scratch copy of the example
workspace. A typist types a function into a buffer, character by character at an editor's pace, asking for
an inline completion at each word boundary (cancelling the one before, as editors do) and accepting nothing;
a churner edits, renames, creates and deletes files on disk all the while. Every 10 s the daemon's RSS (and
its index worker's) is sampled; each completion's latency (request to answer) is kept.

Pass: RSS after the first quarter grows by less than ``--rss-bound-mb``, the daemon's and its index worker's
each; no request is stuck (every one is answered within 120 s); the p95 latency of the last quarter is within
``--p95-factor`` of the second quarter's (the first quarter warms up).

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--out benchmarks/results/soak]

writes ``soak.json`` and ``soak.png`` (RSS and latency over time) and exits 1 when a check fails.
``tests/reliability/test_soak.py`` runs it for 2 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.raw_lsp import RawClient  # noqa: E402

EXAMPLE = REPO / "examples" / "shop"
TYPED = '''

def restock_report(inventory: dict[str, int], threshold: int = 5) -> list[str]:
    """Names of the products whose stock is below the threshold, most urgent first."""
    low = [(count, name) for name, count in inventory.items() if count < threshold]
    low.sort()
    return [name for count, name in low]
'''
ANSWER_TIMEOUT_S = 120


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


class Churner(threading.Thread):
    """Edits, renames, creates and deletes files in the workspace, one change every ``period_s``."""

    def __init__(self, root: Path, period_s: float = 0.5) -> None:
        super().__init__(daemon=True, name="churner")
        self.root = root
        self.period_s = period_s
        self.stop = threading.Event()
        self.changes = 0
        self._rng = random.Random(11)

    def run(self) -> None:
        churn = self.root / "churn"
        churn.mkdir(exist_ok=True)
        n = 0
        while not self.stop.wait(self.period_s):
            n += 1
            files = sorted(churn.glob("*.py"))
            action = self._rng.choice(["create", "create", "edit", "edit", "rename", "delete"])
            try:
                if action == "create" or not files:
                    (churn / f"gen_{n}.py").write_text(f"def generated_{n}(x):\n    return x * {n}\n")
                elif action == "edit":
                    target = self._rng.choice(files)
                    target.write_text(target.read_text() + f"\n\ndef edit_{n}():\n    return {n}\n")
                elif action == "rename":
                    target = self._rng.choice(files)
                    target.rename(churn / f"renamed_{n}.py")
                else:
                    self._rng.choice(files).unlink()
                self.changes += 1
            except OSError:
                pass


def soak(minutes: float, out_dir: Path, rss_bound_mb: float, p95_factor: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="srag-soak-"))
    root = work / "ws"
    shutil.copytree(EXAMPLE, root)
    env = dict(os.environ)
    env.update(
        {
            "SRAG_CACHE_DIR": str(work / "cache"),
            "SRAG_BACKEND": "embedded",
            "SRAG_INDEX_ENABLED": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    client = RawClient(env, cwd=REPO)
    churner = Churner(root)
    samples: list[dict[str, float]] = []
    latencies: list[tuple[float, float, bool]] = []  # (t, ms, had text)
    stuck = 0
    started = time.monotonic()
    alive = False
    try:
        client.initialize(root)
        status = client.wait_settled()
        if not status.get("ready"):
            raise RuntimeError(f"the model backend did not come up: {status}")
        uri = (root / "typing.py").as_uri()
        base = (root / "checkout.py").read_text() if (root / "checkout.py").exists() else ""
        version = 1
        client.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": base}}
        )
        churner.start()
        started = time.monotonic()
        end = started + minutes * 60
        next_sample = started
        text = base
        typed = 0
        pending: list[tuple[int, float]] = []
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_sample:
                worker = sum(_rss_mb(p) for p in _children(client.process.pid))
                samples.append({"t": now - started, "rss_mb": _rss_mb(client.process.pid), "worker_rss_mb": worker})
                next_sample = now + 10
            if typed >= len(TYPED):  # the function is written: start over on a fresh copy
                text, typed = base, 0
            char = TYPED[typed]
            typed += 1
            line = text.count("\n")
            col = len(text.rsplit("\n", 1)[-1])
            version += 1
            client.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": version},
                    "contentChanges": [
                        {"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}},
                         "text": char}
                    ],
                },
            )
            text += char
            if char in " (.\n":  # a word boundary: ask, cancelling the request before (as editors do)
                for rid, _sent in pending:
                    client.notify("$/cancelRequest", {"id": rid})
                line = text.count("\n")
                col = len(text.rsplit("\n", 1)[-1])
                rid = client.request_async(
                    "textDocument/inlineCompletion",
                    {"textDocument": {"uri": uri}, "position": {"line": line, "character": col},
                     "context": {"triggerKind": 2}},
                )
                sent = time.monotonic()
                pending.append((rid, sent))
                if char == "\n":  # a pause at the end of a line: wait for the answer, as a reading user does
                    for rid, sent in pending:
                        try:
                            answer = client.wait(rid, timeout=ANSWER_TIMEOUT_S)
                        except TimeoutError:
                            stuck += 1
                            continue
                        items = (answer.get("result") or {}).get("items") or []
                        latencies.append((sent - started, (time.monotonic() - sent) * 1000, bool(items)))
                    pending = []
            time.sleep(0.08)  # about 12 characters a second
        for rid, _sent in pending:
            try:
                client.wait(rid, timeout=ANSWER_TIMEOUT_S)
            except TimeoutError:
                stuck += 1
        alive = client.process.poll() is None and "version" in client.request("srag/status", {}, timeout=60)["result"]
    except (BrokenPipeError, TimeoutError) as exc:  # the daemon died or stopped answering: report it, with its log
        alive = False
        print(f"soak: the daemon stopped after {time.monotonic() - started:.0f}s ({exc!r}); exit code "
              f"{client.process.poll()}", file=sys.stderr)
    finally:
        churner.stop.set()
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "soak-daemon.log").write_text("".join(client.stderr_lines[-400:]))
        client.close()
        shutil.rmtree(work, ignore_errors=True)
    return _report(minutes, samples, latencies, stuck, alive, churner.changes, rss_bound_mb, p95_factor, out_dir)


def _p95(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _report(
    minutes: float,
    samples: list[dict[str, float]],
    latencies: list[tuple[float, float, bool]],
    stuck: int,
    alive: bool,
    changes: int,
    rss_bound_mb: float,
    p95_factor: float,
    out_dir: Path,
) -> dict[str, Any]:
    span = minutes * 60
    quarter = span / 4
    after_warmup = [s for s in samples if s["t"] >= quarter] or samples
    rss_growth = (after_warmup[-1]["rss_mb"] - after_warmup[0]["rss_mb"]) if after_warmup else 0.0
    # The index worker is part of what the daemon costs the user: its growth is held to the same bound.
    worker_growth = (after_warmup[-1]["worker_rss_mb"] - after_warmup[0]["worker_rss_mb"]) if after_warmup else 0.0
    second = [ms for t, ms, _ in latencies if quarter <= t < 2 * quarter]
    last = [ms for t, ms, _ in latencies if t >= 3 * quarter]
    p95_second, p95_last = _p95(second), _p95(last)
    stable = p95_second is None or p95_last is None or p95_last <= p95_factor * p95_second
    report = {
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "minutes": minutes,
        "requests_answered": len(latencies),
        "with_text": sum(1 for *_, has in latencies if has),
        "stuck": stuck,
        "alive": alive,
        "file_changes": changes,
        "rss_mb": {"first": samples[0]["rss_mb"] if samples else None, "max": max((s["rss_mb"] for s in samples),
                                                                                 default=None),
                   "growth_after_warmup": round(rss_growth, 1), "bound": rss_bound_mb,
                   "worker_first": samples[0]["worker_rss_mb"] if samples else None,
                   "worker_max": max((s["worker_rss_mb"] for s in samples), default=None),
                   "worker_growth_after_warmup": round(worker_growth, 1)},
        "latency_ms": {
            "p50": statistics.median([ms for _, ms, _ in latencies]) if latencies else None,
            "p95": _p95([ms for _, ms, _ in latencies]),
            "p95_second_quarter": p95_second,
            "p95_last_quarter": p95_last,
            "factor_bound": p95_factor,
        },
        "checks": {
            "rss_bounded": rss_growth < rss_bound_mb,
            "worker_rss_bounded": worker_growth < rss_bound_mb,
            "nothing_stuck": stuck == 0 and alive,
            "p95_stable": stable,
        },
        "samples": samples,
        "latencies": [{"t": round(t, 2), "ms": round(ms, 1), "text": has} for t, ms, has in latencies],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    _draw(report, out_dir / "soak.png")
    return report


def _draw(report: dict[str, Any], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no PNG (pip install matplotlib)", file=sys.stderr)
        return
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    t = [s["t"] / 60 for s in report["samples"]]
    top.plot(t, [s["rss_mb"] for s in report["samples"]], label="daemon RSS")
    top.plot(t, [s["worker_rss_mb"] for s in report["samples"]], label="index worker RSS")
    top.set_ylabel("MB")
    top.legend()
    bottom.scatter([x["t"] / 60 for x in report["latencies"]], [x["ms"] for x in report["latencies"]], s=6)
    bottom.set_ylabel("completion latency (ms)")
    bottom.set_xlabel("minutes")
    fig.suptitle(f"soak, {report['minutes']:g} min: RSS and latency over time")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    parser.add_argument("--rss-bound-mb", type=float, default=150)
    parser.add_argument("--p95-factor", type=float, default=2.0)
    args = parser.parse_args(argv)
    report = soak(args.minutes, args.out, args.rss_bound_mb, args.p95_factor)
    summary = {k: report[k] for k in ("minutes", "requests_answered", "with_text", "stuck", "file_changes")}
    print(json.dumps({**summary, "rss_mb": report["rss_mb"], "latency_ms": report["latency_ms"],
                      "checks": report["checks"]}, indent=2))
    return 0 if all(report["checks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
