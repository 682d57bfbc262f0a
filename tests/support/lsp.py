"""Start the real `srag-lsp` process under a pytest-lsp client, with a scratch workspace and cache folder."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER_COMMAND = [sys.executable, "-m", "srag_lsp.cli", "--stdio", "-v"]


def server_env(cache_dir: Path, **overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SRAG_CACHE_DIR": str(cache_dir),
            "SRAG_BACKEND": "embedded",
            "SRAG_INDEX_ENABLED": "false",
            "SRAG_MAX_TOKENS": "16",
            "SRAG_DRAFT_MAX_TOKENS": "12",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


class Collected:
    """Custom notifications the server sent, in arrival order."""

    def __init__(self) -> None:
        self.suggestions: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    def add(self, params: Any) -> None:
        self.suggestions.append(as_dict(params))
        self.changed.set()

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 300) -> None:
        async def _wait() -> None:
            while not predicate(self.suggestions):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(_wait(), timeout)


def as_dict(params: Any) -> Any:
    """pygls hands custom notification params over as attribute objects; turn them into plain data."""
    if isinstance(params, dict):
        return {k: as_dict(v) for k, v in params.items()}
    if hasattr(params, "_asdict"):
        return {k: as_dict(v) for k, v in params._asdict().items()}
    if isinstance(params, list | tuple):
        return [as_dict(v) for v in params]
    if hasattr(params, "__dict__") and not isinstance(params, type):
        return {k: as_dict(v) for k, v in vars(params).items() if not k.startswith("_")}
    return params


async def start_client(workspace: Path, env: dict[str, str], init_options: dict[str, Any] | None = None
                       ) -> tuple[LanguageClient, Collected, types.InitializeResult]:
    config = ClientServerConfig(server_command=SERVER_COMMAND, server_env=env)
    client = await config.start()
    collected = Collected()
    client.feature("srag/suggestion")(lambda ls, params: collected.add(params))
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(
                window=types.WindowClientCapabilities(work_done_progress=True),
            ),
            root_uri=workspace.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
            initialization_options=init_options or {},
        )
    )
    return client, collected, result


async def stop_client(client: LanguageClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_session(), 60)
    finally:
        await client.stop()


async def wait_ready(client: LanguageClient, timeout: float = 300) -> dict[str, Any]:
    """Poll `srag/status` until the model backend is up (or reported broken)."""
    async def _poll() -> dict[str, Any]:
        while True:
            status = as_dict(await client.protocol.send_request_async("srag/status", {}))
            if status.get("ready") or status.get("backend_error"):
                return status
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(_poll(), timeout)


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1, language: str = "python") -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )
    return uri


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
    )
