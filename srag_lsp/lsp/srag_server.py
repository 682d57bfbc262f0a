"""``SragServer``: the daemon's pygls server class, the state its features share (settings, root, runtime,
suggestion events, acceptance) and how it reports to the user. The features are wired in ``server.py``."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from srag_lsp import __version__
from srag_lsp.acceptance import AcceptanceLog
from srag_lsp.lsp.protocol_guard import GuardedProtocol
from srag_lsp.lsp.suggestion_events import SuggestionEvents
from srag_lsp.runtime import Runtime
from srag_lsp.settings import Settings, from_environment

log = logging.getLogger(__name__)


class SragServer(LanguageServer):
    """The daemon's LSP side: settings, the workspace root, the runtime once initialized, and the reports."""

    def __init__(self) -> None:
        super().__init__("srag-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=GuardedProtocol)  # every request gets an answer (issue 12)
        self.problems: list[str] = []  # settings problems found before a client could be told
        self.settings: Settings = from_environment(self.problems.append)
        self.root: Path | None = None
        self.runtime: Runtime | None = None  # built at `initialize`
        self.background: set[asyncio.Task[Any]] = set()
        self.suggestions = SuggestionEvents()
        self.acceptance = AcceptanceLog(None, self.model_for_stage)

    def build_runtime(self) -> Runtime:
        """Build the runtime for the settings and root that ``initialize`` brought (started after ``initialized``)."""
        self.runtime = Runtime(self.settings, self.root, report=self.report, progress=self.work_done_progress,
                               log_to_client=self.log_to_client, publish=self.suggestions.publish)
        return self.runtime

    def model_for_stage(self, stage: str) -> str | None:
        return None if self.runtime is None else self.runtime.model_for_stage(stage)

    def report(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        """Tell the user (window/showMessage) and the log."""
        log.warning("%s", message) if kind <= types.MessageType.Warning else log.info("%s", message)
        try:
            self.window_show_message(types.ShowMessageParams(type=kind, message=message))
        except Exception as exc:  # no client connected (headless) or the connection is gone
            log.debug("cannot show message: %s", exc)

    def report_server_error(self, error: Exception, source: Any) -> None:
        """Errors outside any request: a body that is not JSON is answered with ParseError, never a pop-up."""
        if isinstance(error, json.JSONDecodeError) and isinstance(self.protocol, GuardedProtocol):
            self.protocol.answer_parse_error(error)
            return
        super().report_server_error(error, source)

    def log_to_client(self, message: str) -> None:
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Log, message=message))
        except Exception:
            pass

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)
