"""Status and reports: ``srag/status``, ``srag/stats``, ``srag/indexStatus``, ``srag/reindex`` and ``srag/context``
(the last suggestion's pinned chunks and trace). Index progress itself is ``$/progress``, sent by the runtime."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from srag_lsp import __version__

if TYPE_CHECKING:
    from srag_lsp.lsp.srag_server import SragServer


def status(ls: SragServer, params: Any = None) -> dict[str, Any]:
    runtime = ls.runtime
    return {"version": __version__, "ready": runtime is not None and runtime.engine is not None,
            **({} if runtime is None else runtime.describe())}


def stats(ls: SragServer, params: Any = None) -> dict[str, Any]:
    return {**({} if ls.runtime is None else ls.runtime.stats()), "acceptance": ls.acceptance.summary()}


async def index_status(ls: SragServer, params: Any = None) -> dict[str, Any]:
    if ls.runtime is None:
        return {"state": "starting"}
    return await ls.runtime.index_status()


def reindex(ls: SragServer, params: Any = None) -> dict[str, Any]:
    return {"state": "starting"} if ls.runtime is None else ls.runtime.reindex()


def last_context(ls: SragServer, params: Any = None) -> dict[str, Any]:
    """``srag/context``: the chunks the last suggestion's prompt carried, and its trace."""
    outcome = None if ls.runtime is None else ls.runtime.service.last_outcome
    if outcome is None:
        return {"id": None, "chunks": []}
    return {
        "id": outcome.suggestion.id,
        "uri": outcome.suggestion.uri,
        "text": outcome.suggestion.text,
        "stage": outcome.suggestion.stage,
        "chunks": [
            {"path": c.path, "symbol": c.symbol, "kind": c.kind, "start_line": c.start_line, "end_line": c.end_line,
             "source": c.source, "score": c.score, "text": c.text}
            for c in outcome.chunks
        ],
        "trace": outcome.trace.to_json(),
    }


def register(server: SragServer) -> None:
    server.feature("srag/status")(status)
    server.feature("srag/stats")(stats)
    server.feature("srag/indexStatus")(index_status)
    server.feature("srag/reindex")(reindex)
    server.feature("srag/context")(last_context)
