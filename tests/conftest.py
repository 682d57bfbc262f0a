"""Fixtures every test folder may use: a real S3 server (SeaweedFS), one per test session (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.seaweed import SeaweedServer, running_seaweed


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    with running_seaweed(Path(tmp_path_factory.mktemp("seaweed"))) as server:
        yield server
