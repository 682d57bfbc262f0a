"""Acceptance of suggestions, measured on this machine: what editors showed, accepted or dismissed.

Editors send ``srag/didShow {id, uri, stage, text}``, ``srag/didAccept {id, uri, stage, text, accepted, partial}``
and ``srag/didDismiss {id, uri, stage}``. Each valid event is counted in memory and appended as one JSON line to
``acceptance.jsonl`` beside the request traces (mode 0600). A line holds ids, the stage, the model that produced
the suggestion and character counts, never text or file names. Bad params are logged and ignored.

The model of a suggestion is remembered from the daemon's own ``srag/suggestion`` notifications (a bounded map
from suggestion id and stage to the model of that stage); an id the daemon did not announce gets the model the
daemon runs for that stage now.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from srag_lsp.private_jsonl import PrivateJsonl

log = logging.getLogger(__name__)

DID_SHOW = "srag/didShow"
DID_ACCEPT = "srag/didAccept"
DID_DISMISS = "srag/didDismiss"

STAGES = ("draft", "refined")
FILE_NAME = "acceptance.jsonl"
MAX_FILE_BYTES = 2_000_000
MAX_ID_CHARS = 200
KEEP_EVENTS = 20_000
KEEP_MODELS = 1024
UNKNOWN_MODEL = "unknown"


class InvalidEvent(ValueError):
    """The params of an acceptance notification do not follow the contract."""


def _as_mapping(params: Any) -> Mapping[str, Any]:
    """pygls hands custom params over as a namedtuple (``Object``); tests and other callers may pass a dict."""
    if isinstance(params, Mapping):
        return params
    as_dict = getattr(params, "_asdict", None)
    if callable(as_dict):
        return as_dict()
    raise InvalidEvent(f"params must be an object, got {type(params).__name__}")


def _text(params: Mapping[str, Any], name: str, *, required: bool = True) -> str | None:
    value = params.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidEvent(f"{name!r} must be a string")
    return value


def parse_event(kind: str, params: Any) -> dict[str, Any]:
    """Validate the params of one notification and reduce them to what is kept: ids, stage, lengths."""
    data = _as_mapping(params)
    suggestion_id = _text(data, "id")
    assert suggestion_id is not None
    if not suggestion_id or len(suggestion_id) > MAX_ID_CHARS:
        raise InvalidEvent(f"'id' must be a non-empty string of at most {MAX_ID_CHARS} characters")
    _text(data, "uri")
    stage = _text(data, "stage")
    if stage not in STAGES:
        raise InvalidEvent(f"'stage' must be one of {', '.join(STAGES)}, got {stage!r}")
    event: dict[str, Any] = {"event": kind, "id": suggestion_id, "stage": stage}
    if kind in ("show", "accept"):
        text = _text(data, "text")
        assert text is not None
        event["chars"] = len(text)
    if kind == "accept":
        accepted = _text(data, "accepted")
        assert accepted is not None
        partial = data.get("partial", False)
        if not isinstance(partial, bool):
            raise InvalidEvent("'partial' must be true or false")
        event["accepted_chars"] = len(accepted)
        event["partial"] = partial
    return event


class AcceptanceLog:
    """Counts acceptance events in memory and appends them to ``<directory>/acceptance.jsonl``."""

    def __init__(self, directory: Path | None, model_for_stage: Callable[[str], str | None] | None = None) -> None:
        self.directory: Path | None = None
        self._file: PrivateJsonl | None = None
        self.use_directory(directory)
        self.events: list[dict[str, Any]] = []
        self.rejected = 0
        self._model_for_stage = model_for_stage
        self._models: OrderedDict[str, dict[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def path(self) -> Path | None:
        return None if self._file is None else self._file.path

    def use_directory(self, directory: Path | None) -> None:
        """Where events are kept from now on (None: in memory only); the settings name it."""
        self.directory = directory
        self._file = None if directory is None else PrivateJsonl(directory / FILE_NAME, max_bytes=MAX_FILE_BYTES,
                                                                 keep=1)

    # ---- the model behind a suggestion ---------------------------------------------------------------
    def remember(self, suggestion_id: str, stage: str, model: str | None = None) -> None:
        """Note which model produced ``stage`` of suggestion ``suggestion_id`` (bounded: oldest forgotten)."""
        model = model or self._current_model(stage)
        if not model:
            return
        with self._lock:
            stages = self._models.setdefault(suggestion_id, {})
            stages.setdefault(stage, model)
            self._models.move_to_end(suggestion_id)
            while len(self._models) > KEEP_MODELS:
                self._models.popitem(last=False)

    def model_of(self, suggestion_id: str, stage: str) -> str:
        with self._lock:
            known = self._models.get(suggestion_id, {}).get(stage)
        return known or self._current_model(stage) or UNKNOWN_MODEL

    def _current_model(self, stage: str) -> str | None:
        if self._model_for_stage is None:
            return None
        try:
            return self._model_for_stage(stage)
        except Exception as exc:  # a backend that is not up yet
            log.debug("no model for stage %s: %s", stage, exc)
            return None

    # ---- events ----------------------------------------------------------------------------------------
    def record(self, kind: str, params: Any) -> dict[str, Any] | None:
        """Validate, count and store one event; bad params are logged and ignored (returns None)."""
        try:
            event = parse_event(kind, params)
        except InvalidEvent as exc:
            self.rejected += 1
            log.warning("ignored srag/did%s: %s", kind.capitalize(), exc)
            return None
        event["model"] = self.model_of(event["id"], event["stage"])
        event["at"] = round(time.time(), 3)
        with self._lock:
            self.events.append(event)
            if len(self.events) > KEEP_EVENTS:
                del self.events[: len(self.events) - KEEP_EVENTS]
            self._append(event)
        return event

    def _append(self, event: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.append(event)

    def summary(self) -> dict[str, Any]:
        """This session's events, or, before the first one, what the file holds."""
        with self._lock:
            events = list(self.events)
        if not events and self.path is not None:
            events = load_events(self.path)
        return summarize(events)


def load_events(path: Path, limit: int = KEEP_EVENTS) -> list[dict[str, Any]]:
    """The newest ``limit`` events of an acceptance file; malformed lines are skipped."""
    if not path.exists():
        return []
    events: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("id"), str):
                events.append(event)
    return events[-limit:]


def _counts(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    shown: set[str] = set()
    full: set[str] = set()
    partial: set[str] = set()
    dismissed: set[str] = set()
    accepted_chars = 0
    for event in events:
        sid = event["id"]
        kind = event.get("event")
        if kind in ("show", "accept"):
            shown.add(sid)
        if kind == "accept":
            accepted_chars += int(event.get("accepted_chars", 0))
            (partial if event.get("partial") else full).add(sid)
        elif kind == "dismiss":
            dismissed.add(sid)
    partial -= full
    dismissed = (dismissed & shown) - (full | partial)  # a dismissal of something never shown is no dismissal
    return {
        "shown": len(shown),
        "accepted": len(full),
        "partially_accepted": len(partial),
        "dismissed": len(dismissed),
        "acceptance_rate": round((len(full) + len(partial)) / len(shown), 3) if shown else None,
        "accepted_chars": accepted_chars,
    }


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Suggestions shown, accepted, partly accepted, dismissed, the acceptance rate and the accepted characters:
    overall, by stage and by model. A suggestion counts once per group however many events it had."""
    out = _counts(events)
    for key, name in (("stage", "by_stage"), ("model", "by_model")):
        groups: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            groups.setdefault(str(event.get(key) or UNKNOWN_MODEL), []).append(event)
        out[name] = {group: _counts(members) for group, members in sorted(groups.items())}
    return out


def format_summary(summary: Mapping[str, Any]) -> str:
    """The acceptance summary as a small table for ``srag-lsp stats``."""
    header = f"{'acceptance':24} {'shown':>6} {'accepted':>9} {'partial':>8} {'dismissed':>10} {'rate':>6} {'chars':>7}"

    def row(label: str, c: Mapping[str, Any]) -> str:
        rate = "-" if c.get("acceptance_rate") is None else f"{c['acceptance_rate']:.2f}"
        return (f"{label[:24]:24} {c['shown']:>6} {c['accepted']:>9} {c['partially_accepted']:>8} "
                f"{c['dismissed']:>10} {rate:>6} {c['accepted_chars']:>7}")

    lines = [header, row("all", summary)]
    for stage, counts in summary.get("by_stage", {}).items():
        lines.append(row(f"stage {stage}", counts))
    for model, counts in summary.get("by_model", {}).items():
        lines.append(row(f"model {model}", counts))
    return "\n".join(lines)
