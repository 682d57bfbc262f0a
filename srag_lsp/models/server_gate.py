"""One request at a time from srag-lsp to a model server, until the server is done with it.

- **One at a time**, as llama.vim sends them. Without the gate, drafts, refinements, warm-ups and scores of
  successive keystrokes reach the server together: a llama-server on a laptop's cores splits them across its slots
  and a 2-core server fell to 28 prompt tokens a second, stalling a draft for 30 s (``bench_typing``).
- **Until the server is done.** Closing a request does not stop a server that is evaluating its prompt: it looks
  at cancellations only between batches. A request closed before its first token *settles*: the gate stays shut
  until the server has answered it (its prompt is then in the slot's cache, which the next keystroke re-uses) or
  ``SETTLE_MAX_S`` has passed. Without that, the requests of five keystrokes queued at a 2-core server, which then
  started them in one batch across four slots and was busy for 10 s (``bench_editor``'s server log).
- **Warm-ups never wait**: one is skipped while a request holds the gate, and a request that comes while a
  warm-up holds it stops the warm-up (what the server is evaluating settles first).
- **What each slot holds**, as far as this client knows (``held``), so a backend sends only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from srag_lsp.models.base import FimParts, GenerationStats

SETTLE_MAX_S = 30.0  # the stall limit: a server silent for this long is not waited for


class ServerGate:
    """The turn to talk to one server, shared by the backends (draft and refinement) that use it."""

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._warming: asyncio.Task[object] | None = None  # the warm-up holding the gate, if one does
        self._settle: asyncio.Future[Any] | None = None  # what the current turn left at the server
        self._releasing: asyncio.Task[None] | None = None
        self.held: dict[int, FimParts] = {}  # slot -> the parts whose prompt it holds (as far as we know)

    def _current(self) -> asyncio.Lock:
        if self._lock is None:
            self._lock = asyncio.Lock()
        return self._lock

    def busy(self) -> bool:
        return self._lock is not None and self._lock.locked()

    def settling(self) -> bool:
        """Whether the gate is shut only because the server is still busy with a closed request."""
        return self._releasing is not None and not self._releasing.done()

    def settle(self, work: asyncio.Future[Any]) -> None:
        """Within a turn: ``work`` (a request the caller gave up on) is still at the server; keep the gate shut
        until it ends."""
        self._settle = work

    @contextlib.asynccontextmanager
    async def turn(self, *, warm_up: bool = False) -> AsyncIterator[None]:
        """Wait for the gate. A request preempts a warm-up that holds it: the warm-up's task is cancelled, which
        closes its HTTP request (what the server evaluated stays in its cache)."""
        warming = self._warming
        if not warm_up and warming is not None and not warming.done():
            warming.cancel()
        lock = self._current()
        await lock.acquire()
        if warm_up:
            self._warming = asyncio.current_task()
        self._settle = None
        try:
            yield
        finally:
            if warm_up:
                self._warming = None
            settle, self._settle = self._settle, None
            if settle is None or settle.done():
                lock.release()
            else:
                self._releasing = asyncio.get_running_loop().create_task(self._release_after(settle, lock))

    @staticmethod
    async def _release_after(work: asyncio.Future[Any], lock: asyncio.Lock) -> None:
        try:
            await asyncio.wait_for(asyncio.shield(work), SETTLE_MAX_S)
        except BaseException:  # whatever became of it, the gate opens
            work.cancel()
        finally:
            lock.release()

    async def stream(self, pieces: AsyncIterator[str], stats: GenerationStats) -> AsyncIterator[str]:
        """``pieces`` in this gate's turn: the HTTP stream closes (or settles) before the gate opens for the next
        request; a stream superseded while it waited for its turn ends as "cancelled"."""
        try:
            async with self.turn():
                try:
                    async for piece in pieces:
                        yield piece
                finally:
                    await pieces.aclose()  # type: ignore[attr-defined]
        finally:
            if not stats.finish_reason:
                stats.finish_reason = "cancelled"


async def settled_events(gate: ServerGate, events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """A server's event stream, read by a task of its own. Closed before its first event (the server is still
    evaluating the prompt), the task reads on to that event and then closes the stream, and the gate stays shut
    until it has: the prompt is then in the slot's cache, and the server is free for the next request."""
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop_after_first = asyncio.Event()

    async def read() -> None:
        try:
            async for event in events:
                queue.put_nowait(("event", event))
                if stop_after_first.is_set():
                    return
            queue.put_nowait(("end", None))
        except Exception as exc:  # handed to the consumer, who raises it
            queue.put_nowait(("error", exc))
        finally:
            with contextlib.suppress(Exception):
                await events.aclose()  # type: ignore[attr-defined]

    reader = asyncio.get_running_loop().create_task(read())
    answered = False
    try:
        while True:
            kind, value = await queue.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            answered = True
            yield value
    finally:
        if not answered and not reader.done():
            stop_after_first.set()
            gate.settle(reader)
        else:
            reader.cancel()


async def settled(gate: ServerGate, request: Any) -> Any:
    """Await ``request`` (a coroutine: one HTTP request to the server); cancelled, it goes on and the gate stays
    shut until it ends."""
    task = asyncio.get_running_loop().create_task(request)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        if not task.done():
            gate.settle(task)
        raise
