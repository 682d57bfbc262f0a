"""Start the real `srag-lsp` process under a pytest-lsp client, with a scratch workspace and cache folder.

The client set-up itself (start, initialize, wait for the model, stop) is the benchmarks' (benchmarks/lsp_session.py);
this adds what the tests need: their settings, the notifications collected, documents and positions.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from benchmarks.lsp_session import as_dict, start_session, stop_session, wait_ready

__all__ = ["Collected", "as_dict", "inline_params", "open_doc", "server_env", "start_client", "stop_client",
           "wait_ready"]


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


async def start_client(workspace: Path, env: dict[str, str], init_options: dict[str, Any] | None = None
                       ) -> tuple[LanguageClient, Collected, types.InitializeResult]:
    """The daemon with debug logs, initialized by a client that supports work-done progress; its suggestions are
    collected."""
    collected = Collected()
    client, result = await start_session(
        workspace, env, init_options, on_suggestion=lambda ls, params: collected.add(params), verbose=True,
        capabilities=types.ClientCapabilities(window=types.WindowClientCapabilities(work_done_progress=True)))
    return client, collected, result


async def stop_client(client: LanguageClient) -> None:
    await stop_session(client, 60)


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
