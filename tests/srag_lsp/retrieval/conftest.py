"""Fixtures: the sample workspace indexed once per module with the real builder (LanceDB on disk)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.query import IndexReader
from srag_lsp.retrieval.index_access import build_index
from tests.srag_lsp.retrieval.sample_workspace import write_sample_workspace


@pytest.fixture(scope="module")
def indexed_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("retrieval")
    root = write_sample_workspace(base / "ws")
    index_dir = base / "index"
    report = build_index(root, str(index_dir))
    assert report.indexed == 9 and report.errors == 0
    yield root, index_dir


@pytest.fixture(scope="module")
def reader(indexed_workspace: tuple[Path, Path]) -> Iterator[IndexReader]:
    opened = IndexReader.open(indexed_workspace[1])
    assert opened is not None
    yield opened
    opened.close()
