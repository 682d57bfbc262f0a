"""The LSP surface: registers features on a pygls server and hands each request to the part that owns it.

Text sync is pygls's own (full and incremental). Completions go to ``CompletionService``; the index and
the model backends are brought up by ``Runtime`` in the background after ``initialized``, so the editor
never waits on them. Everything the daemon says goes to stderr and the client's log, never stdout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from srag_lsp import __version__
from srag_lsp.acceptance import register_acceptance
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.completion.service import CompletionService
from srag_lsp.protocol_guard import GuardedProtocol
from srag_lsp.runtime import Runtime, language_for
from srag_lsp.settings import Settings, from_client, from_environment

log = logging.getLogger(__name__)

SUGGESTION_NOTIFICATION = "srag/suggestion"


class SragServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("srag-lsp", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=GuardedProtocol)  # every request gets an answer (issue 12)
        self.problems: list[str] = []
        self.settings: Settings = from_environment(self.problems.append)
        self.runtime: Runtime | None = None
        self.root: Path | None = None
        self.background: set[asyncio.Task[Any]] = set()
        self.service = CompletionService(self._engine, debounce_ms=lambda: self.settings.debounce_ms,
                                         notify=self._notify_suggestion, engine_ready=self._models_settled,
                                         model_wait_ms=lambda: self.settings.model_wait_ms,
                                         warmup=lambda: self.settings.warmup,
                                         trouble=lambda message: self.report(message, types.MessageType.Warning))

    # ---- helpers -------------------------------------------------------------------------------------
    def _engine(self):  # type: ignore[no-untyped-def]
        return None if self.runtime is None else self.runtime.engine

    async def _models_settled(self) -> None:
        while self.runtime is None:  # a request before `initialized`
            await asyncio.sleep(0.05)
        await self.runtime.models_settled.wait()

    def _notify_suggestion(self, suggestion: Suggestion) -> None:
        if self.settings.streaming:
            self.protocol.notify(SUGGESTION_NOTIFICATION, suggestion.to_params())

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

    def request_for(self, uri: str, position: types.Position) -> CompletionRequest | None:
        try:
            doc = self.workspace.get_text_document(uri)
            source = doc.source
        except Exception as exc:
            log.warning("completion for an unknown document %s: %s", uri, exc)
            return None
        lines = doc.lines
        if position.line < 0 or position.character < 0:
            return None
        server_pos = doc.position_from_client_units(position) if position.line < len(lines) else position
        path = to_fs_path(uri) or uri
        rel = path
        if self.root is not None:
            try:
                rel = Path(path).resolve().relative_to(self.root).as_posix()
            except (ValueError, OSError):
                rel = path
        return CompletionRequest(uri=uri, path=rel, text=source, line=server_pos.line, col=server_pos.character,
                                 version=doc.version or 0, language=language_for(path, doc.language_id),
                                 client_col=position.character)


def _single_insertion(params: types.DidChangeTextDocumentParams
                      ) -> tuple[str | None, tuple[int, int] | None, types.Position | None]:
    """For an incremental change: the inserted text and where (when it is one insertion), and where the edit ended."""
    changes = params.content_changes
    if len(changes) != 1 or not isinstance(changes[0], types.TextDocumentContentChangePartial):
        return None, None, None
    change = changes[0]
    start, end = change.range.start, change.range.end
    lines = change.text.split("\n")
    column = (start.character if len(lines) == 1 else 0) + len(lines[-1].encode("utf-16-le")) // 2
    landed = types.Position(line=start.line + len(lines) - 1, character=column)
    if (start.line, start.character) != (end.line, end.character) or not change.text:
        return None, None, landed
    return change.text, (start.line, start.character), landed


def create_server() -> SragServer:
    server = SragServer()
    register_acceptance(server)  # srag/didShow, srag/didAccept, srag/didDismiss

    @server.feature(types.INITIALIZE)
    def initialize(ls: SragServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        ls.settings = from_client(options, ls.settings, ls.problems.append)
        experimental = params.capabilities.experimental
        if isinstance(experimental, dict) and experimental.get("sragStreaming") is True:
            ls.settings.streaming = True
        root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
        if root:
            fs = to_fs_path(root)
            if fs:
                ls.root = Path(fs).resolve()
        elif params.root_path:
            ls.root = Path(params.root_path).resolve()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: SragServer, params: types.InitializedParams) -> None:
        for problem in ls.problems:
            ls.report(problem)
        ls.problems.clear()
        ls.runtime = Runtime(ls.settings, ls.root, report=ls.report, progress=ls.work_done_progress,
                             log_to_client=ls.log_to_client)
        ls.spawn(ls.runtime.start())

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: SragServer, *args: Any) -> None:
        await ls.service.close()
        if ls.runtime is not None:
            await ls.runtime.close()
        for task in list(ls.background):
            task.cancel()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: SragServer, params: types.DidChangeConfigurationParams) -> None:
        ls.settings = from_client(params.settings, ls.settings, ls.report)
        if ls.runtime is not None:
            ls.runtime.update_settings(ls.settings)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: SragServer, params: types.DidOpenTextDocumentParams) -> None:
        if ls.runtime is not None:
            ls.runtime.buffer_changed(params.text_document.uri, params.text_document.text,
                                      params.text_document.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: SragServer, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        inserted, at, landed = _single_insertion(params)
        ls.service.edited(uri, inserted, at)
        if ls.runtime is not None:
            try:
                doc = ls.workspace.get_text_document(uri)
                ls.runtime.buffer_changed(uri, doc.source, params.text_document.version)
            except Exception as exc:
                log.warning("didChange for %s: %s", uri, exc)
        if landed is not None:
            # Where the edit left the cursor (LSP has no cursor events): warm the prompt there if the user idles.
            request = ls.request_for(uri, landed)
            if request is not None:
                ls.service.cursor_landed(request)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: SragServer, params: types.DidSaveTextDocumentParams) -> None:
        if ls.runtime is not None:
            ls.runtime.buffer_saved(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: SragServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.service.forget(params.text_document.uri)
        if ls.runtime is not None:
            ls.runtime.buffer_closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(ls: SragServer, params: types.InlineCompletionParams) -> types.InlineCompletionList:
        request = ls.request_for(params.text_document.uri, params.position)
        if request is None:
            return types.InlineCompletionList(items=[])
        text = await ls.service.suggest(request, ls.settings.inline_wait_ms)
        if not text:
            return types.InlineCompletionList(items=[])
        pos = params.position
        return types.InlineCompletionList(
            items=[types.InlineCompletionItem(insert_text=text, range=types.Range(start=pos, end=pos))]
        )

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=[".", "(", " "]))
    async def completion(ls: SragServer, params: types.CompletionParams) -> types.CompletionList:
        request = ls.request_for(params.text_document.uri, params.position)
        if request is None:
            return types.CompletionList(is_incomplete=True, items=[])
        text = await ls.service.suggest(request, ls.settings.inline_wait_ms)
        if not text:
            return types.CompletionList(is_incomplete=True, items=[])
        label = text.strip().split("\n", 1)[0][:80] or text[:80]
        pos = params.position
        item = types.CompletionItem(
            label=label,
            kind=types.CompletionItemKind.Snippet,
            detail="srag-lsp",
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(range=types.Range(start=pos, end=pos), new_text=text),
            filter_text=label,
            sort_text="0",
        )
        # Incomplete: a re-request after the next keystroke gets the refined text.
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.feature("srag/stats")
    def stats(ls: SragServer, params: Any = None) -> dict[str, Any]:
        return {**({} if ls.runtime is None else ls.runtime.stats()), "acceptance": ls.acceptance.summary()}

    @server.feature("srag/indexStatus")
    async def index_status(ls: SragServer, params: Any = None) -> dict[str, Any]:
        if ls.runtime is None:
            return {"state": "starting"}
        return await ls.runtime.index_status()

    @server.feature("srag/reindex")
    def reindex(ls: SragServer, params: Any = None) -> dict[str, Any]:
        return {"state": "starting"} if ls.runtime is None else ls.runtime.reindex()

    @server.feature("srag/context")
    def context(ls: SragServer, params: Any = None) -> dict[str, Any]:
        outcome = ls.service.last_outcome
        if outcome is None:
            return {"id": None, "chunks": []}
        return {
            "id": outcome.suggestion.id,
            "uri": outcome.suggestion.uri,
            "text": outcome.suggestion.text,
            "stage": outcome.suggestion.stage,
            "chunks": [
                {"path": c.path, "symbol": getattr(c, "symbol", ""), "kind": getattr(c, "kind", ""),
                 "start_line": getattr(c, "start_line", 0), "end_line": getattr(c, "end_line", 0),
                 "source": getattr(c, "source", ""), "score": getattr(c, "score", 0.0), "text": c.text}
                for c in outcome.context
            ],
            "trace": outcome.trace.to_json(),
        }

    @server.feature("srag/status")
    def status(ls: SragServer, params: Any = None) -> dict[str, Any]:
        return {"version": __version__, "ready": ls.runtime is not None and ls.runtime.engine is not None,
                **({} if ls.runtime is None else ls.runtime.describe())}

    return server
