"""Per-request traces: what happened when, written as JSON lines to a rotated file, summarised as percentiles."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from srag_lsp.private_jsonl import PrivateJsonl

log = logging.getLogger(__name__)

MAX_TRACE_BYTES = 5_000_000
KEEP_ROTATIONS = 3

# Figures summarised by `srag/stats` and `srag-lsp stats`: event offsets (ms after arrival) and numbers.
SUMMARY_EVENTS = (
    "debounce",
    "first_model_call",
    "first_draft_token",
    "first_visible",
    "retrieval_first",
    "retrieval_done",
    "first_refined_token",
    "done",
    "cancelled",
)
SUMMARY_NUMBERS = (
    "prompt_tokens",
    "prompt_evaluated",
    "draft_final_edit_distance",
    "unknown_identifiers_draft",
    "unknown_identifiers_final",
    "overhead_first_call_ms",
    "overhead_last_token_ms",
    "cached_prompt_share",
    "score_margin",
)


@dataclass(slots=True)
class RequestTrace:
    id: str
    uri: str
    version: int
    line: int
    col: int
    strategy: str
    backend: str = ""
    model: str = ""
    started_at: float = field(default_factory=time.time)
    t0: float = field(default_factory=time.perf_counter)
    events: dict[str, float] = field(default_factory=dict)  # name -> ms after arrival (first occurrence)
    sources: dict[str, float] = field(default_factory=dict)  # retrieval source -> ms after arrival
    numbers: dict[str, float] = field(default_factory=dict)
    flags: dict[str, Any] = field(default_factory=dict)
    refinements: list[dict[str, Any]] = field(default_factory=list)

    def ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    def mark(self, name: str) -> float:
        """Record ``name`` at the current time unless it was already recorded; return its offset."""
        if name not in self.events:
            self.events[name] = round(self.ms(), 2)
        return self.events[name]

    def add(self, name: str, value: float) -> None:
        self.numbers[name] = self.numbers.get(name, 0.0) + value

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("t0", None)
        return data


class Tracer:
    """Appends finished traces to ``<dir>/trace.jsonl`` (rotated) and keeps recent ones in memory."""

    def __init__(self, directory: Path | None, keep_in_memory: int = 2000) -> None:
        self.directory = directory
        self.recent: list[dict[str, Any]] = []
        self._keep = keep_in_memory
        self._lock = threading.Lock()
        self._file: PrivateJsonl | None = None
        if directory is not None:
            self._file = PrivateJsonl(directory / "trace.jsonl", max_bytes=MAX_TRACE_BYTES, keep=KEEP_ROTATIONS)
            try:
                self._file.prepare()
            except OSError as exc:
                log.warning("trace folder %s cannot be created (%s); traces stay in memory", directory, exc)
                self.directory, self._file = None, None

    @property
    def path(self) -> Path | None:
        return None if self._file is None else self._file.path

    def finish(self, trace: RequestTrace) -> None:
        record = trace.to_json()
        with self._lock:
            self.recent.append(record)
            if len(self.recent) > self._keep:
                del self.recent[: len(self.recent) - self._keep]
            if self._file is not None:
                self._file.append(record)


def load_traces(path: Path, limit: int = 5000) -> list[dict[str, Any]]:
    """Read the newest ``limit`` traces from a trace file; malformed lines are skipped."""
    if not path.exists():
        return []
    records: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records[-limit:]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of each event offset and number, plus counts and rates."""
    out: dict[str, Any] = {"requests": len(records)}
    for name in SUMMARY_EVENTS:
        values = [r["events"][name] for r in records if name in r.get("events", {})]
        if values:
            out[name] = {"n": len(values), "p50": round(percentile(values, 0.5), 2),
                         "p95": round(percentile(values, 0.95), 2)}
    for name in SUMMARY_NUMBERS:
        values = [r["numbers"][name] for r in records if name in r.get("numbers", {})]
        if values:
            out[name] = {"n": len(values), "p50": round(percentile(values, 0.5), 2),
                         "p95": round(percentile(values, 0.95), 2)}
    total = [r["numbers"].get("prompt_tokens", 0) for r in records]
    evaluated = [r["numbers"].get("prompt_evaluated", 0) for r in records]
    if sum(total):
        out["prompt_reuse"] = round(1 - sum(evaluated) / sum(total), 3)
    for flag in ("cache_hit", "skipped_draft", "refined", "contradicted_draft", "kept_draft_first_line",
                 "typed_through", "kept_shown", "dropped_copies"):
        hits = [r for r in records if r.get("flags", {}).get(flag)]
        if hits:
            out[flag] = len(hits)
    return out


def format_summary(summary: dict[str, Any]) -> str:
    lines = [f"requests: {summary.get('requests', 0)}"]
    lines.append(f"{'figure':32} {'n':>6} {'p50':>10} {'p95':>10}")
    for key, value in summary.items():
        if isinstance(value, dict):
            lines.append(f"{key:32} {value['n']:>6} {value['p50']:>10} {value['p95']:>10}")
    for key, value in summary.items():
        if not isinstance(value, dict) and key != "requests":
            lines.append(f"{key}: {value}")
    return "\n".join(lines)
