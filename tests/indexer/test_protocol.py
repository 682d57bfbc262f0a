"""Frames between the LSP server and the worker: round trips, and every way a stream can be damaged."""

from __future__ import annotations

import asyncio
import io
import struct

import msgpack
import pytest

from indexer import protocol
from indexer.protocol import ProtocolError


def test_round_trip_of_several_frames() -> None:
    messages = [
        {"type": "start", "root": "/w", "index_dir": None, "settings": {"maxFileBytes": 10}},
        {"type": "buffer_changed", "path": "/w/ü.py", "text": "x = '\udc80'"[:5] + "ü", "version": 3},
        {"type": "indexed", "paths": [], "chunks": 0},
    ]
    stream = io.BytesIO(b"".join(protocol.encode(m) for m in messages))
    assert [protocol.read_frame(stream) for _ in messages] == messages
    assert protocol.read_frame(stream) is None  # a clean end


def test_a_message_needs_a_type() -> None:
    with pytest.raises(ValueError):
        protocol.encode({"path": "x"})


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I", 10) + b"abc",  # ends inside the payload
        b"\x00\x00",  # ends inside the header
        struct.pack(">I", protocol.MAX_FRAME_BYTES + 1),  # an absurd length: the stream is out of step
        struct.pack(">I", 3) + b"\xc1\xc1\xc1",  # not msgpack
        struct.pack(">I", 2) + msgpack.packb([1]),  # not a map
        (lambda p: struct.pack(">I", len(p)) + p)(msgpack.packb({"type": 5})),  # type is not a string
    ],
)
def test_damaged_streams_raise_protocol_error(data: bytes) -> None:
    with pytest.raises(ProtocolError):
        protocol.read_frame(io.BytesIO(data))


async def test_async_reader() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(protocol.encode({"type": "status", "id": 1}) + protocol.encode({"type": "ready", "pid": 2}))
    reader.feed_eof()
    assert await protocol.read_frame_async(reader) == {"type": "status", "id": 1}
    assert await protocol.read_frame_async(reader) == {"type": "ready", "pid": 2}
    assert await protocol.read_frame_async(reader) is None

    broken = asyncio.StreamReader()
    broken.feed_data(struct.pack(">I", 50) + b"short")
    broken.feed_eof()
    with pytest.raises(ProtocolError):
        await protocol.read_frame_async(broken)
