"""Symbol-aware retrieval: what the workspace defines for the code around a cursor, under a deadline.

A request, in the order it runs (one module per step):
- ``types``: ``CursorQuery`` in; ``ContextChunk``, ``RetrievalUpdate``, ``RetrievalResult`` out.
- ``trees``: the document's last syntax tree, re-parsed incrementally (about 1 ms a keystroke).
- ``cursor`` (with ``scopes``, ``imports``, ``workspace_modules``): the partial identifier, the names in play,
  ``Class.member`` on known types, the enclosing function and class, the imports resolved to files.
- ``expectation``: what the cursor line is about to need (``raise`` wants an exception) and its words.
- ``sources``: ``symbol``, ``imports``, ``fts``, ``buffers``, ``vector``; each runs in a thread.
- ``fusion``: weighted reciprocal rank fusion, de-duplication, dropping what the prompt already shows.
- ``budget``: the token budget, signatures instead of bodies when it is tight.
- ``cache``: per-source results keyed by file, scope and names, invalidated by re-indexed paths.
- ``retriever``: all of the above under a deadline, streamed as sources land.
- ``cli`` and ``index_access``: ``srag-lsp retrieve`` (single cursor or ``--batch``), building a missing index.
"""

from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.types import ContextChunk, CursorQuery, RetrievalResult, RetrievalUpdate

__all__ = ["ContextChunk", "CursorQuery", "RetrievalResult", "RetrievalUpdate", "Retriever"]
