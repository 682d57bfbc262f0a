"""The publishing lease of ``indexer.shared_index`` under injected faults: a lease that cannot be read for a moment
(another builder creating it) or for good (debris). The database here is a fake, for fault injection only; the
real S3 race runs in test_shared_index.py."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest

from indexer import shared_index
from indexer.shared_index import LEASE, publishing_lease


class LeaseStore:
    """A lease table another builder holds; reading it fails while ``unreadable`` says so."""

    def __init__(self, unreadable: int | None) -> None:
        self.held_by_other = True
        self.unreadable = unreadable  # opens that fail before one succeeds (None: every one fails)
        self.opens = 0
        self.events: list[str] = []

    def create_table(self, name: str, *, data: Any, mode: str) -> None:
        assert name == LEASE and mode == "create"
        if self.held_by_other:
            raise RuntimeError("Dataset already exists")
        self.events.append("created ours")

    def open_table(self, name: str) -> Any:
        self.opens += 1
        if self.unreadable is None or self.opens <= self.unreadable:
            raise RuntimeError("Table publish_lease was not found")
        if self.opens == self.unreadable + 2:  # the other builder is done
            self.held_by_other = False
        return pa.table({"holder": ["other"], "since": [time.time()]})

    def drop_table(self, name: str) -> None:
        self.events.append("dropped")
        self.held_by_other = False


def test_a_lease_unreadable_for_a_moment_is_waited_for_not_cleared() -> None:
    store = LeaseStore(unreadable=1)
    with publishing_lease(store, "s3://b/x", {}, wait_s=30):
        assert store.events == ["created ours"], "the other builder's lease was never dropped"
    assert store.events == ["created ours", "dropped"]  # ours, given back


def test_a_lease_that_stays_unreadable_is_cleared_as_debris(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_index, "LEASE_DEBRIS_S", 0.5)
    store = LeaseStore(unreadable=None)
    started = time.monotonic()
    with publishing_lease(store, "s3://b/x", {}, wait_s=30):
        assert store.events == ["dropped", "created ours"]
    assert time.monotonic() - started >= 0.5
