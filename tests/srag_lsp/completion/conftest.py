"""Fixtures for the engine tests: examples/shop indexed with the real builder, and the real embedded model."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.retrieval.index_access import build_index
from srag_lsp.settings import default_model_dir

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "shop"


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    base = tmp_path_factory.mktemp("engine")
    root = base / "shop"
    shutil.copytree(EXAMPLE, root)
    index_dir = base / "index"
    report = build_index(root, str(index_dir))
    assert report.errors == 0
    yield root, index_dir


@pytest.fixture(scope="session")
def backends() -> tuple[EmbeddedBackend, EmbeddedBackend]:
    draft = EmbeddedBackend("qwen2.5-coder-0.5b", model_dir=default_model_dir(), slot="engine-draft")
    refine = draft.with_slot("engine-refine")

    async def start() -> None:
        await draft.start()
        await refine.start()

    asyncio.run(start())
    return draft, refine


