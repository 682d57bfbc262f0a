"""The one pytest-lsp client set-up of the real daemon: start it, initialize it on a workspace, wait until its model
is ready, stop it; plus what benchmarks read from it (traces, CPU time).

Benchmarks start the daemon with the default settings (only paths, the backend and the setting a benchmark compares
may be set; everything else is the default a user gets); the LSP tests (tests/support/lsp.py) build on the same
set-up. Nothing here imports ``tests``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

SERVER = [sys.executable, "-m", "srag_lsp.cli", "--stdio"]


def as_dict(obj: Any) -> Any:
    """pygls hands custom notification params over as attribute objects; turn them into plain data."""
    if isinstance(obj, dict):
        return {k: as_dict(v) for k, v in obj.items()}
    if hasattr(obj, "_asdict"):
        return {k: as_dict(v) for k, v in obj._asdict().items()}
    if isinstance(obj, list | tuple):
        return [as_dict(v) for v in obj]
    if hasattr(obj, "__dict__") and not isinstance(obj, type):
        return {k: as_dict(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return obj


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def daemon_env(cache: Path, index_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a daemon with default settings, its own cache and traces, and the shared index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRAG_")}
    env.update(SRAG_CACHE_DIR=str(cache), SRAG_INDEX_DIR=str(index_dir), SRAG_BACKEND="embedded",
               SRAG_INDEX_ENABLED="false")
    env.update(settings)
    return env


async def start_session(workspace: Path, env: dict[str, str], init_options: dict[str, Any] | None = None, *,
                        on_suggestion: Callable[[Any, Any], None] | None = None,
                        capabilities: types.ClientCapabilities | None = None,
                        verbose: bool = False) -> tuple[LanguageClient, types.InitializeResult]:
    """Start the daemon (``-v``: debug logs on stderr) and initialize it with ``workspace`` as its root and only
    folder; ``on_suggestion`` gets each ``srag/suggestion`` notification."""
    command = [*SERVER, "-v"] if verbose else SERVER
    client: LanguageClient = await ClientServerConfig(server_command=command, server_env=env).start()
    if on_suggestion is not None:
        client.feature("srag/suggestion")(on_suggestion)
    result = await client.initialize_session(types.InitializeParams(
        capabilities=capabilities or types.ClientCapabilities(), root_uri=workspace.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name=workspace.name)],
        initialization_options=init_options or {}))
    return client, result


async def wait_ready(client: LanguageClient, timeout: float | None = 300) -> dict[str, Any]:
    """Poll ``srag/status`` until the model backend is up (or reported broken); that status. No limit when None."""
    async def _poll() -> dict[str, Any]:
        while True:
            status = as_dict(await client.protocol.send_request_async("srag/status", {}))
            if status.get("ready") or status.get("backend_error"):
                return status
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(_poll(), timeout)


async def stop_session(client: LanguageClient, timeout: float = 30) -> None:
    """Shut the daemon down as an editor does (``shutdown``, ``exit``), then stop the client."""
    try:
        await asyncio.wait_for(client.shutdown_session(), timeout)
    finally:
        await client.stop()


async def start_daemon(workspace: Path, env: dict[str, str],
                       on_suggestion: Callable[[Any, Any], None] | None = None, *,
                       streaming: bool = True) -> LanguageClient:
    """Start the daemon as an editor would (streaming opted in, unless a plain client) and wait until its model is
    ready."""
    client, _ = await start_session(workspace, env, {"streaming": streaming}, on_suggestion=on_suggestion)
    status = await wait_ready(client, timeout=None)
    if status.get("backend_error"):
        raise SystemExit(f"backend failed: {status['backend_error']}")
    return client


async def stop_daemon(client: LanguageClient) -> None:
    await stop_session(client, 30)


def daemon_pid(client: LanguageClient) -> int | None:
    server = getattr(client, "_server", None)
    return getattr(server, "pid", None)


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process (Linux /proc), 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def read_traces(cache: Path) -> dict[str, dict[str, Any]]:
    """The daemon's request traces by suggestion id."""
    out: dict[str, dict[str, Any]] = {}
    path = cache / "traces" / "trace.jsonl"
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[record["id"]] = record
    return out
