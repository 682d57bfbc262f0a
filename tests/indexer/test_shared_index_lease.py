"""The publishing lease of ``indexer.shared_index`` under injected faults: a lease that cannot be read for a moment
(another builder creating it) or for good (debris), and two creates that both succeed (storage without conditional
writes, the later overwriting the first). The database here is a fake, for fault injection only; the real S3 race
runs in test_shared_index.py."""

from __future__ import annotations

import time
from typing import Any

import pyarrow as pa
import pytest

from indexer import shared_index
from indexer.shared_index import LEASE, publishing_lease


class Table:
    """What ``open_table`` returns: a table that reads as Arrow."""

    def __init__(self, data: pa.Table) -> None:
        self.data = data

    def to_arrow(self) -> pa.Table:
        return self.data


class LeaseStore:
    """A lease table another builder holds; reading it fails while ``unreadable`` says so."""

    def __init__(self, unreadable: int | None) -> None:
        self.held_by_other = True
        self.unreadable = unreadable  # opens that fail before one succeeds (None: every one fails)
        self.opens = 0
        self.events: list[str] = []
        self.ours: Any = None  # our lease's rows, once we created it

    def create_table(self, name: str, *, data: Any, mode: str) -> None:
        assert name == LEASE and mode == "create"
        if self.held_by_other:
            raise RuntimeError("Dataset already exists")
        self.events.append("created ours")
        self.ours = data

    def open_table(self, name: str) -> Any:
        if not self.held_by_other and self.ours is not None:
            return Table(self.ours)
        self.opens += 1
        if self.unreadable is None or self.opens <= self.unreadable:
            raise RuntimeError("Table publish_lease was not found")
        if self.opens == self.unreadable + 2:  # the other builder is done
            self.held_by_other = False
        return Table(pa.table({"holder": ["other"], "since": [time.time()]}))

    def drop_table(self, name: str) -> None:
        self.events.append("dropped")
        self.held_by_other = False
        self.ours = None


@pytest.fixture(autouse=True)
def _quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shared_index, "LEASE_SETTLE_S", 0.01)


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


class OverwritingStore:
    """Storage without conditional writes: our create succeeds, but another builder's create lands just after it
    and overwrites the table; that builder publishes and drops the lease after a few reads."""

    def __init__(self) -> None:
        self.table: Any = None
        self.events: list[str] = []
        self.reads_while_other_holds = 0

    def create_table(self, name: str, *, data: Any, mode: str) -> None:
        if self.table is not None:
            raise RuntimeError("Dataset already exists")
        if not self.events:  # the first create: overwritten by the other builder's, which "succeeded" too
            self.events.append("both created")
            self.table = pa.table({"holder": ["other"], "since": [time.time()]})
        else:
            self.events.append("created ours")
            self.table = data

    def open_table(self, name: str) -> Any:
        if self.table is None:
            raise RuntimeError("Table publish_lease was not found")
        if self.table.column("holder")[0].as_py() == "other":
            self.reads_while_other_holds += 1
            if self.reads_while_other_holds == 3:  # the other builder is done with its publish
                self.events.append("other dropped")
                self.table = None
                raise RuntimeError("Table publish_lease was not found")
        return Table(self.table)

    def drop_table(self, name: str) -> None:
        self.events.append("dropped")
        self.table = None


def test_a_create_that_another_overwrote_waits_for_that_builder() -> None:
    store = OverwritingStore()
    with publishing_lease(store, "s3://b/x", {}, wait_s=30):
        assert store.events == ["both created", "other dropped", "created ours"], "published beside the other"
    assert store.events[-1] == "dropped"
