"""Acceptance: ``srag/didShow``, ``srag/didAccept`` and ``srag/didDismiss`` are counted in the server's
``AcceptanceLog``; it learns which model wrote each suggestion from the published suggestion events."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from srag_lsp.acceptance import DID_ACCEPT, DID_DISMISS, DID_SHOW
from srag_lsp.completion.request import Suggestion

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer


def did_show(ls: SragServer, params: Any = None) -> None:
    ls.acceptance.record("show", params)


def did_accept(ls: SragServer, params: Any = None) -> None:
    ls.acceptance.record("accept", params)


def did_dismiss(ls: SragServer, params: Any = None) -> None:
    ls.acceptance.record("dismiss", params)


def remember_model(ls: SragServer, suggestion: Suggestion) -> None:
    ls.acceptance.remember(suggestion.id, suggestion.stage)


def register(server: SragServer) -> None:
    server.feature(DID_SHOW)(did_show)
    server.feature(DID_ACCEPT)(did_accept)
    server.feature(DID_DISMISS)(did_dismiss)
    server.suggestions.subscribe(functools.partial(remember_model, server))
