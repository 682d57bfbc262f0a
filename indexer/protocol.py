"""The wire format between the LSP server and the indexer worker: msgpack maps in length-prefixed frames.

A frame is a 4-byte big-endian length followed by that many bytes of msgpack: a map with a ``type`` key.

From the client: ``start {root, index_dir, settings}``, ``status {id}``, ``file_changed {paths}``,
``buffer_changed {path, text, version}``, ``buffer_closed {path}``, ``buffer_saved {path}``, ``rescan``,
``shutdown``.
From the worker: ``ready {pid}``, ``progress {done, total, phase}``, ``indexed {paths, chunks}``,
``status {id?, ...}``, ``error {message}``.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any, BinaryIO

import msgpack

MAX_FRAME_BYTES = 256 * 1024 * 1024  # a frame larger than this means a desynchronised stream
_HEADER = struct.Struct(">I")

# client -> worker
START = "start"
STATUS = "status"
FILE_CHANGED = "file_changed"
BUFFER_CHANGED = "buffer_changed"
BUFFER_CLOSED = "buffer_closed"
BUFFER_SAVED = "buffer_saved"
RESCAN = "rescan"
SHUTDOWN = "shutdown"
# worker -> client
READY = "ready"
PROGRESS = "progress"
INDEXED = "indexed"
ERROR = "error"

CLIENT_MESSAGES = frozenset(
    {START, STATUS, FILE_CHANGED, BUFFER_CHANGED, BUFFER_CLOSED, BUFFER_SAVED, RESCAN, SHUTDOWN}
)
WORKER_MESSAGES = frozenset({READY, PROGRESS, INDEXED, STATUS, ERROR})


class ProtocolError(Exception):
    """A frame that cannot be decoded, or a stream that ended in the middle of a frame."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame for ``message`` (which must have a ``type``)."""
    if not isinstance(message.get("type"), str):
        raise ValueError(f"a message needs a string 'type': {message!r}")
    payload = msgpack.packb(message, use_bin_type=True)
    if len(payload) > MAX_FRAME_BYTES:
        raise ValueError(f"message of {len(payload)} bytes is larger than a frame may be")
    return _HEADER.pack(len(payload)) + payload


def decode_payload(payload: bytes) -> dict[str, Any]:
    try:
        message = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several types
        raise ProtocolError(f"undecodable frame: {exc}") from exc
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise ProtocolError(f"a frame must be a map with a string 'type', got {type(message).__name__}")
    return message


def _length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame length {length} exceeds {MAX_FRAME_BYTES}")
    return length


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message from a blocking binary stream; None at a clean end of stream."""
    header = _read_exact(stream, _HEADER.size)
    if header is None:
        return None
    payload = _read_exact(stream, _length(header))
    if payload is None:
        raise ProtocolError("stream ended inside a frame")
    return decode_payload(payload)


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks: list[bytes] = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            if chunks or size == 0:
                raise ProtocolError("stream ended inside a frame")
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


async def read_frame_async(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message from an asyncio stream; None at a clean end of stream."""
    try:
        header = await reader.readexactly(_HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("stream ended inside a frame header") from exc
        return None
    try:
        payload = await reader.readexactly(_length(header))
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("stream ended inside a frame") from exc
    return decode_payload(payload)
