"""A benchmark's client of the real daemon over LSP: start it with the default settings, open, type, ask, read traces.

Only paths, the backend and the setting a benchmark compares may be set; everything else is the default a user gets.
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


async def start_daemon(workspace: Path, env: dict[str, str],
                       on_suggestion: Callable[[Any, Any], None] | None = None, *,
                       streaming: bool = True) -> LanguageClient:
    """Start the daemon as an editor would (streaming opted in, unless a plain client) and wait until its model is
    ready."""
    client: LanguageClient = await ClientServerConfig(server_command=SERVER, server_env=env).start()
    if on_suggestion is not None:
        client.feature("srag/suggestion")(on_suggestion)
    await client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=workspace.as_uri(),
        initialization_options={"streaming": streaming}))
    while True:
        status = as_dict(await client.protocol.send_request_async("srag/status", {}))
        if status.get("ready") or status.get("backend_error"):
            break
        await asyncio.sleep(0.2)
    if status.get("backend_error"):
        raise SystemExit(f"backend failed: {status['backend_error']}")
    return client


async def stop_daemon(client: LanguageClient) -> None:
    try:
        await asyncio.wait_for(client.shutdown_session(), 30)
    finally:
        await client.stop()


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
