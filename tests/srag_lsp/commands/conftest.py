"""Fixtures for the headless commands: the indexed sample workspace that retrieval's tests use too."""

from tests.srag_lsp.retrieval.conftest import indexed_workspace

__all__ = ["indexed_workspace"]
