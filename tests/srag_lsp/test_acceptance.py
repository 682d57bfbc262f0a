"""Acceptance events (srag/didShow, srag/didAccept, srag/didDismiss): validation, counting, the file, the summary.

The first tests use the module directly on a real folder; the last one drives the real daemon with a real LSP
client and the real embedded model, so the suggestion ids and the model names are the daemon's own.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from srag_lsp import acceptance
from srag_lsp.acceptance import AcceptanceLog, format_summary, load_events, parse_event, summarize


def show(sid: str, stage: str = "draft", text: str = "foo(x)") -> dict:
    return {"id": sid, "uri": "file:///w/a.py", "stage": stage, "text": text}


def accept(sid: str, stage: str, text: str, accepted: str, partial: bool) -> dict:
    return {**show(sid, stage, text), "accepted": accepted, "partial": partial}


def test_events_keep_ids_stage_model_and_lengths_never_text(tmp_path: Path) -> None:
    log = AcceptanceLog(tmp_path / "traces", model_for_stage=lambda stage: f"{stage}-model")
    log.record("show", show("s1", text="secret_call(1)"))
    log.record("accept", accept("s1", "draft", "secret_call(1)", "secret_call", True))
    log.record("dismiss", {"id": "s1", "uri": "file:///w/a.py", "stage": "draft"})
    path = tmp_path / "traces" / "acceptance.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_text()
    assert "secret_call" not in raw and "a.py" not in raw
    events = load_events(path)
    assert [e["event"] for e in events] == ["show", "accept", "dismiss"]
    assert events[1]["accepted_chars"] == len("secret_call") and events[1]["chars"] == len("secret_call(1)")
    assert {e["model"] for e in events} == {"draft-model"}


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("show", None),
        ("show", "s1"),
        ("show", {"uri": "file:///a", "stage": "draft", "text": "x"}),  # no id
        ("show", {"id": "", "uri": "file:///a", "stage": "draft", "text": "x"}),
        ("show", {"id": "s1", "uri": "file:///a", "stage": "final", "text": "x"}),
        ("show", {"id": "s1", "uri": "file:///a", "stage": "draft"}),  # no text
        ("accept", {"id": "s1", "uri": "file:///a", "stage": "draft", "text": "x", "partial": False}),  # no accepted
        ("accept", {"id": "s1", "uri": "file:///a", "stage": "draft", "text": "x", "accepted": "x", "partial": 1}),
        ("dismiss", {"id": 7, "uri": "file:///a", "stage": "draft"}),
        ("dismiss", {"id": "x" * 500, "uri": "file:///a", "stage": "draft"}),
    ],
)
def test_bad_params_are_ignored_and_counted(tmp_path: Path, kind: str, params: object) -> None:
    log = AcceptanceLog(tmp_path)
    assert log.record(kind, params) is None
    assert log.rejected == 1 and log.events == []
    assert not (tmp_path / "acceptance.jsonl").exists()


def test_pygls_style_params_are_read() -> None:
    params = namedtuple("Object", ["id", "uri", "stage", "text", "accepted", "partial"])(
        "s9", "file:///a", "refined", "abc", "abc", False)
    assert parse_event("accept", params) == {"event": "accept", "id": "s9", "stage": "refined", "chars": 3,
                                             "accepted_chars": 3, "partial": False}


def test_summary_counts_each_suggestion_once_per_group() -> None:
    events = [
        # s1: draft shown, refined shown, partly accepted as a draft, then wholly as refined
        {"event": "show", "id": "s1", "stage": "draft", "model": "small", "chars": 10},
        {"event": "show", "id": "s1", "stage": "refined", "model": "big", "chars": 12},
        {"event": "accept", "id": "s1", "stage": "draft", "model": "small", "chars": 10, "accepted_chars": 4,
         "partial": True},
        {"event": "accept", "id": "s1", "stage": "refined", "model": "big", "chars": 8, "accepted_chars": 8,
         "partial": False},
        # s2: shown and dismissed
        {"event": "show", "id": "s2", "stage": "draft", "model": "small", "chars": 5},
        {"event": "dismiss", "id": "s2", "stage": "draft", "model": "small"},
        # s3: partly accepted, the rest dismissed
        {"event": "show", "id": "s3", "stage": "refined", "model": "big", "chars": 9},
        {"event": "accept", "id": "s3", "stage": "refined", "model": "big", "chars": 9, "accepted_chars": 3,
         "partial": True},
        {"event": "dismiss", "id": "s3", "stage": "refined", "model": "big"},
        # s4: dismissed but never shown (an empty suggestion): not counted
        {"event": "dismiss", "id": "s4", "stage": "refined", "model": "big"},
    ]
    s = summarize(events)
    assert (s["shown"], s["accepted"], s["partially_accepted"], s["dismissed"]) == (3, 1, 1, 1)
    assert s["acceptance_rate"] == round(2 / 3, 3)
    assert s["accepted_chars"] == 15
    draft, refined = s["by_stage"]["draft"], s["by_stage"]["refined"]
    assert (draft["shown"], draft["accepted"], draft["partially_accepted"], draft["dismissed"]) == (2, 0, 1, 1)
    assert (refined["shown"], refined["accepted"], refined["partially_accepted"]) == (2, 1, 1)
    assert s["by_model"]["small"]["accepted_chars"] == 4 and s["by_model"]["big"]["accepted_chars"] == 11
    table = format_summary(s)
    assert "stage draft" in table and "model big" in table
    assert summarize([])["acceptance_rate"] is None


def test_model_is_remembered_per_suggestion_and_stage_in_a_bounded_map(tmp_path: Path) -> None:
    current = {"draft": "gemma3-270m", "refined": "qwen2.5-coder-0.5b"}
    log = AcceptanceLog(None, model_for_stage=lambda stage: current[stage])
    log.remember("s1", "draft")
    current["draft"] = "other"  # the settings changed after s1 was drawn
    assert log.model_of("s1", "draft") == "gemma3-270m"
    assert log.model_of("s2", "draft") == "other"  # not announced: the model that runs that stage now
    for i in range(acceptance.KEEP_MODELS + 10):
        log.remember(f"n{i}", "refined")
    assert log.model_of("s1", "draft") == "other"  # the oldest were forgotten
    assert AcceptanceLog(None).model_of("s1", "draft") == acceptance.UNKNOWN_MODEL


def test_stats_command_prints_acceptance(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    log = AcceptanceLog(traces, model_for_stage=lambda stage: "m")
    log.record("show", show("s1"))
    log.record("accept", accept("s1", "draft", "foo(x)", "foo(x)", False))
    trace_file = traces / "trace.jsonl"
    run = [sys.executable, "-m", "srag_lsp.cli", "stats", "--trace-file", str(trace_file)]
    as_json = json.loads(subprocess.run([*run, "--json"], capture_output=True, text=True, check=True).stdout)
    assert as_json["acceptance"]["accepted"] == 1 and as_json["acceptance"]["accepted_chars"] == 6
    assert as_json["acceptance"]["by_model"]["m"]["acceptance_rate"] == 1.0
    table = subprocess.run(run, capture_output=True, text=True, check=True).stdout
    assert "acceptance" in table and "stage draft" in table


@pytest.mark.model
async def test_daemon_counts_events_for_its_own_suggestions(tmp_path: Path) -> None:
    from tests.support.lsp import as_dict, inline_params, open_doc, server_env, start_client, stop_client, wait_ready

    root = tmp_path / "ws"
    root.mkdir()
    source = "def area(width: float, height: float) -> float:\n    return "
    (root / "geo.py").write_text(source)
    cache = tmp_path / "cache"
    client, collected, _ = await start_client(root, server_env(cache), {"streaming": True})
    try:
        status = await wait_ready(client)
        uri = open_doc(client, root / "geo.py", source)
        await client.text_document_inline_completion_async(inline_params(uri, 1, 11))
        await collected.wait_for(lambda s: any(x.get("final") for x in s))
        last = collected.suggestions[-1]
        sid, stage, text = last["id"], last["stage"], last["text"]
        notify = client.protocol.notify
        notify("srag/didShow", {"id": sid, "uri": uri, "stage": stage, "text": text})
        notify("srag/didShow", {"id": sid, "uri": uri, "stage": "bogus", "text": text})  # ignored
        notify("srag/didAccept", {"id": sid, "uri": uri, "stage": stage, "text": text, "accepted": text[:1],
                                  "partial": True})
        notify("srag/didAccept", ["not", "an", "object"])  # ignored
        notify("srag/didDismiss", {"id": sid, "uri": uri, "stage": stage})
        stats = as_dict(await client.protocol.send_request_async("srag/stats", {}))
        a = stats["acceptance"]
        assert (a["shown"], a["partially_accepted"], a["dismissed"], a["accepted_chars"]) == (1, 1, 0, 1), a
        # (pygls's client renames keys that are not identifiers, such as model names: the file has them as sent)
        assert len(a["by_model"]) == 1 and list(a["by_stage"]) == [stage]
        assert as_dict(await client.protocol.send_request_async("srag/status", {}))["version"]  # still serving
    finally:
        await stop_client(client)
    events = load_events(cache / "traces" / "acceptance.jsonl")
    assert [e["event"] for e in events] == ["show", "accept", "dismiss"]
    model = status["model"] if stage == "draft" else status.get("refine_model") or status["model"]
    assert {e["model"] for e in events} == {model}
