"""The composition root: ``Runtime`` builds every part of the daemon (backends, retrieval, engine, service, index
worker) and is the one place they are wired together. The LSP server, ``srag-lsp complete``, ``srag-lsp retrieve``
and the benchmarks all build through it."""

from srag_lsp.runtime.composition import Runtime, index_dir_for

__all__ = ["Runtime", "index_dir_for"]
