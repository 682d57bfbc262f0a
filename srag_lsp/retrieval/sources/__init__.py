"""The retrieval sources. Each turns a cursor analysis into a ranked list of chunks, on its own (blocking).

- ``symbol``: exact definitions of the names in play, ``Class.member`` for attribute accesses on known
  classes (following base classes once), and definitions starting with the partial identifier.
- ``imports``: definitions the file imports from the workspace: ``from m import a, b`` names first, then
  members used as ``module.member``, and the members of a module being typed after ``module.``.
- ``fts``: BM25 over the identifier sub-words of the lines before the cursor.
- ``buffers``: open and recently edited buffers (a provider gives ``{path: text}``), chunked and searched in
  memory, so unsaved definitions are found before the index sees them.
- ``vector``: nearest neighbours of the window, only when the index has vectors and an embedder is given.

The retriever runs each ``run`` in a thread; sources never touch the event loop. One module per
source; what they share is in :mod:`srag_lsp.retrieval.sources.base`.
"""

from indexer.languages import DEFINITION_KINDS
from srag_lsp.retrieval.sources.base import (
    BufferProvider,
    Embedder,
    ReaderFn,
    SharedSymbols,
    Source,
    chunk_from_hit,
)
from srag_lsp.retrieval.sources.buffers import BufferSource
from srag_lsp.retrieval.sources.fulltext import FtsSource, fts_query
from srag_lsp.retrieval.sources.imported import ImportsSource
from srag_lsp.retrieval.sources.symbol import SymbolSource
from srag_lsp.retrieval.sources.vector import VectorSource

__all__ = [
    "DEFINITION_KINDS",
    "BufferProvider",
    "BufferSource",
    "Embedder",
    "FtsSource",
    "ImportsSource",
    "ReaderFn",
    "SharedSymbols",
    "Source",
    "SymbolSource",
    "VectorSource",
    "chunk_from_hit",
    "fts_query",
]
