"""End-to-end tests of the LSP server: the real `srag-lsp` process driven by a real LSP client (pytest-lsp).

The model is the real embedded default (llama.cpp in process) or the real `ollama` client talking HTTP to
`tests/support/ollama_server.py` (an Ollama-compatible server in front of the same model). The only fake
is the dead model server: a loopback port nobody listens on.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from tests.support.lsp import as_dict, inline_params, open_doc, server_env, start_client, stop_client, wait_ready

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
        assert "height" in item.text_edit.new_text, item.text_edit.new_text
    finally:
        await stop_client(client)


@pytest.mark.model
async def test_cancel_stops_generation_and_server_keeps_serving(workspace: Path, cache_dir: Path) -> None:
    env = server_env(cache_dir, SRAG_MAX_TOKENS="400", SRAG_INLINE_WAIT_MS="600000")
    client, _, _ = await start_client(workspace, env)
    try:
        await wait_ready(client)
        text = SAMPLE.replace("    return \n", "    \n")
        uri = open_doc(client, workspace / "shapes.py", text)
        msg_id = "cancel-me"
        future = client.protocol.send_request("textDocument/inlineCompletion",
                                              inline_params(uri, 12, 4), msg_id=msg_id)
        await asyncio.sleep(1.0)
        client.protocol.notify("$/cancelRequest", types.CancelParams(id=msg_id))
        try:
            await asyncio.wait_for(asyncio.wrap_future(future), 120)
        except Exception:
            pass  # a cancelled request answers with an error: that is the point
        stats = as_dict(await client.protocol.send_request_async("srag/stats", {}))
        assert stats.get("requests", 0) >= 1
        assert "cancelled" in stats, stats
        # The daemon still serves.
        status = as_dict(await client.protocol.send_request_async("srag/status", {}))
        assert status["ready"] is True
    finally:
        await stop_client(client)
    traces = [json.loads(line) for line in (cache_dir / "traces" / "trace.jsonl").read_text().splitlines()]
    cancelled = [t for t in traces if t["flags"].get("cancelled")]
    assert cancelled and cancelled[0]["numbers"].get("generated_tokens", 0) < 400


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
        assert items == []
        status = as_dict(await client.protocol.send_request_async("srag/status", {}))
        assert status["ready"] is False
    finally:
        await stop_client(client)


async def test_invalid_settings_are_reported_and_defaults_used(workspace: Path, cache_dir: Path) -> None:
    port = free_port()
    env = server_env(cache_dir, SRAG_BACKEND="ollama", OLLAMA_HOST=f"http://127.0.0.1:{port}")
    client, _, _ = await start_client(workspace, env, {"maxTokens": "lots", "strategy": "magic", "noSuch": 1})
    try:
        await wait_ready(client)
        texts = [m.message for m in client.messages]
        assert any("maxTokens" in t and "whole number" in t for t in texts), texts
        assert any("strategy" in t and "streaming" in t for t in texts), texts
        assert any("noSuch" in t for t in texts), texts
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
