"""Shared fixtures of the indexer tests: a real S3 server (SeaweedFS), one per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.seaweed import SeaweedServer, running_seaweed


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running_seaweed(Path(tmp_path_factory.mktemp("seaweed"))) as server:
        yield server
