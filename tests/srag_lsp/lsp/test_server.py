"""End-to-end tests of the LSP server: the real `srag-lsp` process driven by a real LSP client (pytest-lsp).

The model is the real embedded default (llama.cpp in process) or the real `ollama` client talking HTTP to
`tests/support/ollama_server.py` (an Ollama-compatible server in front of the same model). The only fake
is the dead model server: a loopback port nobody listens on.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from tests.support.embedding import require_local_model
from tests.support.lsp import as_dict, inline_params, open_doc, server_env, start_client, stop_client, wait_ready
from tests.support.ollama_server import serve
from tests.support.waiting import wait_until_async

SAMPLE = '''"""Geometry helpers."""

import math


def circle_area(radius: float) -> float:
    """Area of a circle."""
    return math.pi * radius ** 2


def rectangle_area(width: float, height: float) -> float:
    """Area of a rectangle."""
    return <CURSOR>
'''.replace("<CURSOR>", "")
# The cursor after "return " in rectangle_area (0-based line 12, column 11).
CURSOR = (12, 11)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "shapes.py").write_text(SAMPLE, encoding="utf-8")
    return root


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    path = tmp_path / "cache"
    path.mkdir()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_initialize_advertises_capabilities(workspace: Path, cache_dir: Path) -> None:
    client, _, result = await start_client(workspace, server_env(cache_dir))
    try:
        caps = result.capabilities
        assert caps.inline_completion_provider, "inline completion must be advertised"
        assert caps.completion_provider is not None
        sync = caps.text_document_sync
        change = sync.change if isinstance(sync, types.TextDocumentSyncOptions) else sync
        assert change == types.TextDocumentSyncKind.Incremental
        assert result.server_info is not None and result.server_info.name == "srag-lsp"
    finally:
        await stop_client(client)


@pytest.mark.model
async def test_inline_completion_streams_real_tokens(workspace: Path, cache_dir: Path) -> None:
    client, collected, _ = await start_client(workspace, server_env(cache_dir), {"streaming": True})
    try:
        status = await wait_ready(client)
        assert status["backend"] == "embedded", status
        uri = open_doc(client, workspace / "shapes.py", SAMPLE)
        result = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
        assert result is not None
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        assert items and items[0].insert_text.strip(), "expected a non-empty suggestion"
        await collected.wait_for(lambda s: any(x["done"] for x in s))
        final = [s for s in collected.suggestions if s["done"]][-1]
        assert set(final) >= {"uri", "version", "position", "id", "text", "stage", "done"}
        assert final["uri"] == uri and final["version"] == 1
        assert final["position"] == {"line": CURSOR[0], "character": CURSOR[1]}
        assert final["stage"] in ("draft", "refined") and final["text"].strip()
        # Every notification of the request carries the full text so far, with one id.
        assert len({s["id"] for s in collected.suggestions}) == 1
        # A re-triggered request for the same (uri, version, position) answers from the cache.
        again = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
        again_items = again.items if isinstance(again, types.InlineCompletionList) else again
        assert again_items[0].insert_text == final["text"]
    finally:
        await stop_client(client)


@pytest.mark.model
async def test_incremental_edit_then_completion_and_plain_completion(workspace: Path, cache_dir: Path) -> None:
    client, _, _ = await start_client(workspace, server_env(cache_dir))
    try:
        await wait_ready(client)
        uri = open_doc(client, workspace / "shapes.py", SAMPLE)
        # Incremental edit: type "width *" after "return ".
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(start=types.Position(line=12, character=11),
                                          end=types.Position(line=12, character=11)),
                        text="width *",
                    )
                ],
            )
        )
        result = await client.text_document_completion_async(
            types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri),
                                   position=types.Position(line=12, character=18))
        )
        assert result is not None and result.items, "expected a completion item"
        item = result.items[0]
        assert item.text_edit is not None and item.text_edit.new_text.strip()
        assert "\n" not in item.text_edit.new_text  # mid-line: one line (the words are the model's business)
    finally:
        await stop_client(client)


@pytest.mark.model
async def test_a_resting_cursor_warms_the_prompts_there(workspace: Path, cache_dir: Path) -> None:
    """``srag/cursor`` (the editors send it when the cursor rests outside insert mode) makes the daemon prefill
    the prompts at that place; params it cannot read are ignored and the daemon keeps serving."""
    client, _, _ = await start_client(workspace, server_env(cache_dir))
    try:
        await wait_ready(client)
        uri = open_doc(client, workspace / "shapes.py", SAMPLE)
        client.protocol.notify("srag/cursor", {"textDocument": {"uri": uri}, "position": {"line": 99}})
        client.protocol.notify("srag/cursor", {"textDocument": {"uri": uri},
                                               "position": {"line": CURSOR[0], "character": CURSOR[1]}})

        async def warmed() -> bool:
            status = as_dict(await client.protocol.send_request_async("srag/status", {}))
            return status["warm_ups"]["runs"] >= 1 and status["warm_ups"]["prompt_tokens"] > 0

        await wait_until_async(warmed, 120, "a warm-up where the cursor rests", interval_s=0.2)
        result = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
        assert result is not None
    finally:
        await stop_client(client)


# Twenty lines of a list being counted: the model goes on counting for far more than a first line, so it is still
# writing when the edit right after the first answer comes.
COUNTED = 20
NUMBERS = "NUMBERS = [\n" + "".join(f"    {n},\n" for n in range(1, COUNTED + 1)) + "    "


def read_traces(cache_dir: Path) -> list[dict]:
    path = cache_dir / "traces" / "trace.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.model
async def test_newer_edit_supersedes_and_stops_generation(workspace: Path, cache_dir: Path) -> None:
    """A newer edit supersedes the running request (its trace shows the run cancelled early) and the daemon answers
    the next one. (The exact supersede and cancel logic is tested with a scripted backend in
    completion/test_service_logic.py.)"""
    env = server_env(cache_dir, SRAG_MAX_TOKENS="300")
    client, _, _ = await start_client(workspace, env, {"streaming": True})
    try:
        await wait_ready(client)
        uri = open_doc(client, workspace / "numbers.py", NUMBERS)
        result = await client.text_document_inline_completion_async(inline_params(uri, COUNTED + 1, 4))
        items = result.items if isinstance(result, types.InlineCompletionList) else result
        assert items and items[0].insert_text.strip()  # answered at the first line; generation goes on
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=NUMBERS + f"{COUNTED + 1},\n    ")]))
        # The daemon keeps serving: the next request is answered with a suggestion.
        again = await client.text_document_inline_completion_async(inline_params(uri, COUNTED + 2, 4))
        again_items = again.items if isinstance(again, types.InlineCompletionList) else again
        assert again_items and again_items[0].insert_text.strip(), again
        for _ in range(600):
            if len(read_traces(cache_dir)) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await stop_client(client)
    traces = read_traces(cache_dir)
    first = [t for t in traces if t["version"] == 1]
    assert len(first) == 1, traces
    assert first[0]["flags"].get("cancelled") is True, first[0]
    assert "cancelled" in first[0]["events"] and first[0]["numbers"].get("generated_tokens", 0) < 300, first[0]


async def test_cancel_request_closes_a_stalled_model_stream(workspace: Path, cache_dir: Path) -> None:
    """$/cancelRequest while the model server stalls (fault injection: a server that never answers)."""
    with serve(["gemma3-270m"], fault="stall") as (url, state):
        env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=url, SRAG_OLLAMA_MODEL="gemma3-270m")
        client, _, _ = await start_client(workspace, env)
        try:
            status = await wait_ready(client)
            assert status["backend"] == "ollama", status
            uri = open_doc(client, workspace / "shapes.py", SAMPLE)
            future = client.protocol.send_request("textDocument/inlineCompletion", inline_params(uri, *CURSOR),
                                                  msg_id="cancel-me")
            await wait_until_async(lambda: state.stalled >= 1, 120, "the generate request held by the server")
            assert not future.done(), "the stalled request should still be waiting"
            client.protocol.notify("$/cancelRequest", types.CancelParams(id="cancel-me"))
            with pytest.raises(Exception, match=r"(?i)cancel"):
                await asyncio.wait_for(asyncio.wrap_future(future), 60)
            # the generation stops once no later request takes it over (service.CANCEL_GRACE_S)
            stats: dict = {}

            async def cancelled() -> bool:
                stats.update(as_dict(await client.protocol.send_request_async("srag/stats", {})))
                return stats.get("cancelled", {}).get("n") == 1

            await wait_until_async(cancelled, 10, "the cancelled generation stopped", interval_s=0.1)
            status = as_dict(await client.protocol.send_request_async("srag/status", {}))
            assert status["ready"] is True
        finally:
            await stop_client(client)
    traces = read_traces(cache_dir)
    assert traces and traces[0]["flags"].get("cancelled") is True


async def test_dead_model_server_is_reported_and_daemon_keeps_serving(workspace: Path, cache_dir: Path) -> None:
    port = free_port()  # nobody listens here: a dead Ollama
    env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=f"http://127.0.0.1:{port}")
    client, _, _ = await start_client(workspace, env)
    try:
        status = await wait_ready(client)
        assert status.get("backend_error"), status
        errors = [m for m in client.messages if m.type == types.MessageType.Error]
        assert errors and f"127.0.0.1:{port}" in errors[0].message, [m.message for m in client.messages]
        uri = open_doc(client, workspace / "shapes.py", SAMPLE)
        result = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
        items = result.items if isinstance(result, types.InlineCompletionList) else (result or [])
        assert not items
        status = as_dict(await client.protocol.send_request_async("srag/status", {}))
        assert status["ready"] is False
    finally:
        await stop_client(client)


async def test_invalid_settings_are_reported_and_defaults_used(workspace: Path, cache_dir: Path) -> None:
    port = free_port()
    env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=f"http://127.0.0.1:{port}")
    options = {"maxTokens": "lots", "strategy": "magic", "noSuch": 1, "embeddings": "always"}
    client, _, _ = await start_client(workspace, env, options)
    try:
        await wait_ready(client)
        texts = [m.message for m in client.messages]
        assert any("maxTokens" in t and "whole number" in t for t in texts), texts
        assert any("strategy" in t and "streaming" in t for t in texts), texts
        assert any("embeddings" in t and "off, local, ollama" in t for t in texts), texts
        assert any("noSuch" in t for t in texts), texts
    finally:
        await stop_client(client)


async def test_index_status_shows_background_embeddings(workspace: Path, cache_dir: Path) -> None:
    """The `embeddings` option reaches the index worker (a real process), which embeds in the background."""
    require_local_model()
    port = free_port()  # no model backend: this test is about the index
    env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=f"http://127.0.0.1:{port}",
                     SRAG_INDEX_ENABLED="true")
    client, _, _ = await start_client(workspace, env, {"embeddings": "local"})
    try:
        await wait_ready(client)
        for _ in range(1200):
            status = as_dict(await client.protocol.send_request_async("srag/indexStatus", {}))
            if status.get("initial_build_done") and status.get("embedded") and not status.get("embeddings_pending"):
                break
            await asyncio.sleep(0.1)
        assert status["embeddings"] == "local" and status["embedding_model"].startswith("local:"), status
        assert status["embedded"] == status["chunks"] == 3 and status["embedding_error"] is None, status
    finally:
        await stop_client(client)


@pytest.mark.model
async def test_completion_through_real_ollama_client(workspace: Path, cache_dir: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.ollama_server", "--port", "0", "--model", "qwen2.5-coder-0.5b"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=url, SRAG_OLLAMA_MODEL="qwen2.5-coder-0.5b")
        client, _, _ = await start_client(workspace, env)
        try:
            status = await wait_ready(client)
            assert status["backend"] == "ollama", status
            uri = open_doc(client, workspace / "shapes.py", SAMPLE)
            result = await client.text_document_inline_completion_async(inline_params(uri, *CURSOR))
            items = result.items if isinstance(result, types.InlineCompletionList) else result
            assert items and items[0].insert_text.strip()
        finally:
            await stop_client(client)
    finally:
        proc.terminate()
        proc.wait(30)


@pytest.mark.model
async def test_streaming_client_sees_draft_before_retrieval_and_refined_after(tmp_path: Path, cache_dir: Path) -> None:
    """Index on (a real worker process), retrieval delivered late (the benchmark delay setting)."""
    root = tmp_path / "shop"
    shutil.copytree(Path(__file__).resolve().parents[3] / "examples" / "shop", root)
    env = server_env(cache_dir, SRAG_INDEX_ENABLED="true", SRAG_RETRIEVAL_DELAY_MS="8000", SRAG_MAX_TOKENS="20",
                     SRAG_RETRIEVAL_DEADLINE_MS="5000")
    client, collected, _ = await start_client(root, env, {"streaming": True})
    try:
        await wait_ready(client)
        for _ in range(1200):
            status = as_dict(await client.protocol.send_request_async("srag/indexStatus", {}))
            if status.get("initial_build_done"):
                break
            await asyncio.sleep(0.1)
        assert status.get("initial_build_done") and status.get("files") == 3, status
        assert client.progress_reports, "initial indexing reports $/progress"
        kinds = [getattr(v, "kind", None) for values in client.progress_reports.values() for v in values]
        assert "begin" in kinds and "end" in kinds
        text = (root / "checkout.py").read_text()
        uri = open_doc(client, root / "checkout.py", text)
        line = text.split("\n").index("    discounted = ")
        await client.text_document_inline_completion_async(inline_params(uri, line, 17))
        await collected.wait_for(lambda s: any(x.get("final") for x in s))
        stages = [s["stage"] for s in collected.suggestions]
        assert stages[0] == "draft" and stages[-1] == "refined", stages
        context = as_dict(await client.protocol.send_request_async("srag/context", {}))
        trace = context["trace"]
        events = trace["events"]
        # The draft's generation started at once, long before the (delayed) retrieval landed, and the user saw
        # the draft before the refined text. (The engine test checks "visible before retrieval" exactly.)
        assert events["first_model_call"] < events["retrieval_first"]
        refined_first = min(r["first_token_ms"] for r in trace["refinements"] if "first_token_ms" in r)
        assert events["first_visible"] < refined_first
        assert {c["path"] for c in context["chunks"]} & {"pricing.py", "cart.py"}
    finally:
        await stop_client(client)
