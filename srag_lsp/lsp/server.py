"""The LSP server: the one list of features it serves, and ``create_server``, which wires them to ``SragServer``.

Text sync is pygls's own (full and incremental). Each feature module (``features/``) registers its handlers;
the parts behind them (backends, retrieval, the engine, the completion service, the index worker) are built by
``runtime.Runtime`` at ``initialize`` and started after ``initialized`` in the background, so the editor never
waits on them. Everything the daemon says goes to stderr and the client's log, never stdout.
"""

from __future__ import annotations

from srag_lsp.lsp.features import acceptance, completion, documents, lifecycle, status
from srag_lsp.lsp.srag_server import SragServer

FEATURES = (lifecycle, documents, completion, status, acceptance)


def create_server() -> SragServer:
    server = SragServer()
    for feature in FEATURES:
        feature.register(server)
    return server
