"""The gate to a model server: one request at a time, and a request given up on while the server still works on
it keeps the gate shut until the server is done. Pure asyncio: the "server's work" here is a future the test ends."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from srag_lsp.models.server_gate import ServerGate, settled, settled_events


async def test_a_turn_that_leaves_work_at_the_server_keeps_the_gate_until_it_ends() -> None:
    gate = ServerGate()
    at_server: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    async with gate.turn():
        gate.settle(at_server)
    assert gate.busy() and gate.settling()
    order: list[str] = []

    async def next_request() -> None:
        async with gate.turn():
            order.append("next")

    waiting = asyncio.ensure_future(next_request())
    await asyncio.sleep(0)
    order.append("server done")
    at_server.set_result(None)
    await waiting
    assert order == ["server done", "next"] and not gate.busy() and not gate.settling()


async def test_a_cancelled_request_settles_and_a_finished_one_does_not() -> None:
    gate = ServerGate()
    release = asyncio.Event()

    async def request() -> str:
        await release.wait()
        return "answer"

    async def give_up() -> None:
        async with gate.turn():
            await settled(gate, request())

    task = asyncio.ensure_future(give_up())
    await asyncio.sleep(0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gate.settling()  # the request goes on at the server: the gate stays shut
    release.set()
    async with gate.turn():
        assert not gate.settling()
    async with gate.turn():
        assert await settled(gate, request()) == "answer"
    assert not gate.busy()


async def test_a_stream_closed_before_its_first_event_is_read_to_that_event_then_closed() -> None:
    gate = ServerGate()
    first = asyncio.Event()
    closed: list[bool] = []

    async def server_events() -> AsyncIterator[dict[str, str]]:
        try:
            await first.wait()  # the server evaluates the prompt
            yield {"content": "a"}
            yield {"content": "b"}
        finally:
            closed.append(True)

    async def consume() -> None:
        async with gate.turn():
            async with contextlib.aclosing(settled_events(gate, server_events())) as events:
                async for _ in events:
                    pass

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0)
    task.cancel()  # superseded before the first token
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert gate.settling() and not closed
    first.set()
    async with gate.turn():
        assert closed == [True]  # read to the first event, then closed, before the next turn


async def test_a_stream_closed_after_its_first_event_closes_at_once() -> None:
    gate = ServerGate()
    closed: list[bool] = []

    async def server_events() -> AsyncIterator[dict[str, str]]:
        try:
            yield {"content": "a"}
            await asyncio.Event().wait()  # generating on
            yield {"content": "b"}
        finally:
            closed.append(True)

    async with gate.turn():
        async with contextlib.aclosing(settled_events(gate, server_events())) as events:
            assert (await anext(events)) == {"content": "a"}
    assert not gate.settling()
    await asyncio.sleep(0)
    assert closed == [True]


async def test_an_error_from_the_server_reaches_the_reader() -> None:
    gate = ServerGate()

    async def server_events() -> AsyncIterator[dict[str, str]]:
        yield {"content": "a"}
        raise RuntimeError("cut mid-stream")

    seen = []
    async with gate.turn():
        with contextlib.suppress(RuntimeError):
            async for event in settled_events(gate, server_events()):
                seen.append(event)
    assert seen == [{"content": "a"}] and not gate.busy()
