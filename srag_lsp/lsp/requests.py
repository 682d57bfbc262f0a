"""Turns an LSP document and position into a ``CompletionRequest`` (workspace-relative path, server columns)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.uris import to_fs_path

from srag_lsp.completion.languages import language_for
from srag_lsp.completion.request import CompletionRequest

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer

log = logging.getLogger(__name__)


def completion_request(ls: SragServer, uri: str, position: types.Position) -> CompletionRequest | None:
    """The request for ``position`` in the open document ``uri``; None for an unknown document or a bad position."""
    try:
        doc = ls.workspace.get_text_document(uri)
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
    if ls.root is not None:
        try:
            rel = Path(path).resolve().relative_to(ls.root).as_posix()
        except (ValueError, OSError):
            rel = path
    return CompletionRequest(uri=uri, path=rel, text=source, line=server_pos.line, col=server_pos.character,
                             version=doc.version or 0, language=language_for(path, doc.language_id),
                             client_col=position.character)
