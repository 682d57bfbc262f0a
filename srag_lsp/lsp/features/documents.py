"""Documents: open, change, save, close, and where the cursor rests. Buffers go to retrieval and the index worker;
an edit supersedes the document's running completion (unless the user typed what it wrote) and warms the place it
left the cursor; ``srag/cursor`` (sent by the editors when the cursor rests) warms the place it names."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from srag_lsp.lsp.requests import completion_request

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer

log = logging.getLogger(__name__)

CURSOR_NOTIFICATION = "srag/cursor"  # params: {textDocument: {uri}, position: {line, character}}


def single_insertion(params: types.DidChangeTextDocumentParams
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


def did_open(ls: SragServer, params: types.DidOpenTextDocumentParams) -> None:
    if ls.runtime is not None:
        document = params.text_document
        ls.runtime.buffer_changed(document.uri, document.text, document.version)


def did_change(ls: SragServer, params: types.DidChangeTextDocumentParams) -> None:
    runtime = ls.runtime
    if runtime is None:
        return
    uri = params.text_document.uri
    inserted, at, landed = single_insertion(params)
    runtime.service.edited(uri, inserted, at)
    try:
        doc = ls.workspace.get_text_document(uri)
        runtime.buffer_changed(uri, doc.source, params.text_document.version)
    except Exception as exc:
        log.warning("didChange for %s: %s", uri, exc)
    if landed is not None:
        # Where the edit left the cursor (LSP has no cursor events): warm the prompt there if the user idles.
        request = completion_request(ls, uri, landed)
        if request is not None:
            runtime.service.cursor_landed(request)


def did_save(ls: SragServer, params: types.DidSaveTextDocumentParams) -> None:
    if ls.runtime is not None:
        ls.runtime.buffer_saved(params.text_document.uri)


def did_close(ls: SragServer, params: types.DidCloseTextDocumentParams) -> None:
    if ls.runtime is not None:
        ls.runtime.buffer_closed(params.text_document.uri)


def _field(value: Any, name: str) -> Any:
    """A field of custom params: pygls hands them over as nested namedtuples; tests may pass dicts."""
    return value.get(name) if isinstance(value, dict) else getattr(value, name, None)


def cursor_rested(ls: SragServer, params: Any = None) -> None:
    """``srag/cursor``: the cursor rests at a place (a jump, a file opened, a new line) before any key: warm both
    stages' prompts there while the user reads (``CompletionService.cursor_rested``). Bad params are ignored."""
    runtime = ls.runtime
    if runtime is None:
        return
    uri = _field(_field(params, "textDocument"), "uri")
    position = _field(params, "position")
    line, character = _field(position, "line"), _field(position, "character")
    if not isinstance(uri, str) or not isinstance(line, int) or not isinstance(character, int):
        log.warning("srag/cursor needs {textDocument: {uri}, position: {line, character}}; got %r", params)
        return
    request = completion_request(ls, uri, types.Position(line=line, character=character))
    if request is not None:
        runtime.service.cursor_rested(request)


def register(server: SragServer) -> None:
    server.feature(types.TEXT_DOCUMENT_DID_OPEN)(did_open)
    server.feature(types.TEXT_DOCUMENT_DID_CHANGE)(did_change)
    server.feature(types.TEXT_DOCUMENT_DID_SAVE)(did_save)
    server.feature(types.TEXT_DOCUMENT_DID_CLOSE)(did_close)
    server.feature(CURSOR_NOTIFICATION)(cursor_rested)
