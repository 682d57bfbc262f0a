"""Symbol-aware retrieval: what the workspace defines for the code around a cursor, under a deadline.

The public surface: :class:`Retriever` (``stream``, ``retrieve``, ``cached``, ``lookup_names``,
``invalidate``) and the data types in :mod:`srag_lsp.retrieval.types`. The CLI entry point is
:func:`srag_lsp.retrieval.cli.run_retrieve_cli`.
"""

from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.types import ContextChunk, CursorContext, RetrievalResult, RetrievalUpdate

__all__ = ["ContextChunk", "CursorContext", "RetrievalResult", "RetrievalUpdate", "Retriever"]
