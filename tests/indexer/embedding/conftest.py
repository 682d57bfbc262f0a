"""Fixtures of the embedding tests."""

from tests.support.embedding import needs_local_model

__all__ = ["needs_local_model"]
