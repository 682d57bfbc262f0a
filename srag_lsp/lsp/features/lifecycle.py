"""Lifecycle: ``initialize`` (settings, root, the runtime), ``initialized`` (start it), ``shutdown``, and settings
changes from the editor."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from srag_lsp.settings import from_client

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer


def initialize(ls: SragServer, params: types.InitializeParams) -> None:
    ls.settings = from_client(params.initialization_options, ls.settings, ls.problems.append)
    experimental = params.capabilities.experimental
    if isinstance(experimental, dict) and experimental.get("sragStreaming") is True:
        ls.settings = dataclasses.replace(ls.settings, streaming=True)
    root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    if root:
        fs = to_fs_path(root)
        if fs:
            ls.root = Path(fs).resolve()
    elif params.root_path:
        ls.root = Path(params.root_path).resolve()
    ls.acceptance.use_directory(ls.settings.cache_path() / "traces" if ls.settings.trace else None)
    ls.build_runtime()


async def initialized(ls: SragServer, params: types.InitializedParams) -> None:
    for problem in ls.problems:
        ls.report(problem)
    ls.problems.clear()
    if ls.runtime is not None:
        ls.spawn(ls.runtime.start())


async def shutdown(ls: SragServer, *args: Any) -> None:
    if ls.runtime is not None:
        await ls.runtime.close()
    for task in list(ls.background):
        task.cancel()


def did_change_configuration(ls: SragServer, params: types.DidChangeConfigurationParams) -> None:
    ls.settings = from_client(params.settings, ls.settings, ls.report)
    ls.acceptance.use_directory(ls.settings.cache_path() / "traces" if ls.settings.trace else None)
    if ls.runtime is not None:
        ls.runtime.update_settings(ls.settings)


def register(server: SragServer) -> None:
    server.feature(types.INITIALIZE)(initialize)
    server.feature(types.INITIALIZED)(initialized)
    server.feature(types.SHUTDOWN)(shutdown)
    server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(did_change_configuration)
