"""Waiting for a condition instead of sleeping for a fixed time: poll a predicate until it holds, or fail after a
generous deadline saying what never happened; and wait for a process to come to rest (its CPU time stops growing).

A fixed sleep is either too short on a loaded machine (a flaky failure) or longer than needed everywhere else; a
polled condition waits exactly as long as it takes, and its timeout only bounds a real failure.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout_s: float = 60.0, what: str = "", interval_s: float = 0.02) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what or predicate}")
        time.sleep(interval_s)


async def wait_until_async(predicate: Callable[[], T | Awaitable[T]], timeout_s: float = 60.0, what: str = "",
                           interval_s: float = 0.01) -> T:
    """``wait_until`` for the event loop: the loop keeps running between polls; ``predicate`` may be async."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what or predicate}")
        await asyncio.sleep(interval_s)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) of process ``pid`` and its descendants; Linux /proc."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for p in [pid, *_descendants(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15 of stat)
    return total


def _descendants(pid: int) -> list[int]:
    kids: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return kids
    for tid in tasks:
        try:
            kids += [int(k) for k in Path(f"/proc/{pid}/task/{tid}/children").read_text().split()]
        except OSError:
            continue
    return kids + [d for kid in kids for d in _descendants(kid)]


def wait_at_rest(pid: int, *, quiet_s: float = 0.5, busy_share: float = 0.05, timeout_s: float = 120.0,
                 also: Callable[[], object] | None = None, what: str = "the process at rest") -> None:
    """Wait until process ``pid`` (with its children) is at rest: over ``quiet_s`` it used at most ``busy_share``
    of one core, and ``also()`` (when given) returned the same truthy value at both ends of that window (work that
    is elsewhere, such as a model server, is over and nothing new started)."""
    deadline = time.monotonic() + timeout_s
    while True:
        before, mark = cpu_seconds(pid), also() if also is not None else True
        time.sleep(quiet_s)  # the quiet window itself: rest is "nothing happened for a while"
        used = cpu_seconds(pid) - before
        if used <= busy_share * quiet_s and mark and (also is None or also() == mark):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what} (last window used {used:.2f} s of CPU)")
