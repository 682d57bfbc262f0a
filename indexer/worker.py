"""The indexer worker process (``python -m indexer.worker``): msgpack frames on stdin/stdout, logs on stderr.

It runs one :class:`~indexer.writer.IndexService`, the index's single writer, so that parsing and writing a
large repository never competes with the LSP server's event loop. The real stdout is kept for frames only:
file descriptor 1 is pointed at stderr so that a stray print (ours or a library's) cannot corrupt the
stream. The worker exits when its stdin closes (the parent went away) or on ``shutdown``.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any, BinaryIO

from indexer import protocol
from indexer.writer import IndexService

log = logging.getLogger(__name__)


class FrameWriter:
    """Writes frames to the parent from any thread; after a broken pipe it drops them quietly."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self.broken = False

    def send(self, message: dict[str, Any]) -> None:
        frame = protocol.encode(message)
        with self._lock:
            if self.broken:
                return
            try:
                self._stream.write(frame)
                self._stream.flush()
            except (BrokenPipeError, OSError, ValueError) as exc:
                self.broken = True
                log.info("the client went away (%s)", exc)


def _claim_stdout() -> BinaryIO:
    """A private handle on the real stdout for frames; fd 1 and sys.stdout now lead to stderr."""
    frames_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(frames_fd, "wb", buffering=0)


def serve(inp: BinaryIO, writer: FrameWriter) -> int:
    """Read requests until ``shutdown`` or end of input; return the exit status."""
    service: IndexService | None = None
    writer.send({"type": protocol.READY, "pid": os.getpid()})
    status = 0
    try:
        while True:
            try:
                message = protocol.read_frame(inp)
            except protocol.ProtocolError as exc:
                log.error("unreadable request, stopping: %s", exc)
                writer.send({"type": protocol.ERROR, "message": f"unreadable request: {exc}"})
                status = 2
                break
            if message is None:
                log.info("input closed; stopping")
                break
            kind = message.get("type")
            if kind == protocol.SHUTDOWN:
                break
            try:
                service = _handle(message, service, writer)
            except Exception as exc:  # a malformed request is reported, not fatal
                log.warning("bad %s request: %s", kind, exc)
                writer.send({"type": protocol.ERROR, "message": f"bad {kind} request: {exc}"})
    finally:
        if service is not None:
            service.stop()
    return status


def _handle(message: dict[str, Any], service: IndexService | None, writer: FrameWriter) -> IndexService | None:
    kind = message["type"]
    if kind == protocol.START:
        root = message["root"]
        if not isinstance(root, str) or not root:
            raise ValueError("start needs a root folder")
        if service is not None:
            log.info("restarting the index service for %s", root)
            service.stop()
        settings = message.get("settings") or {}
        if not isinstance(settings, dict):
            raise ValueError("settings must be a map")
        service = IndexService(root, message.get("index_dir") or None, settings, emit=writer.send)
        service.start()
        return service
    if kind == protocol.STATUS:
        reply: dict[str, Any] = service.status() if service is not None else {"phase": "not started"}
        writer.send({"type": protocol.STATUS, "id": message.get("id"), **reply})
        return service
    if service is None:
        raise ValueError("no workspace yet: send start first")
    if kind == protocol.FILE_CHANGED:
        paths = message.get("paths") or []
        if not isinstance(paths, list):
            raise ValueError("paths must be a list")
        service.file_changed(str(p) for p in paths)
    elif kind == protocol.BUFFER_CHANGED:
        text = message.get("text")
        if not isinstance(text, str):
            raise ValueError("buffer_changed needs text")
        service.buffer_changed(str(message["path"]), text, int(message.get("version") or 0))
    elif kind in (protocol.BUFFER_CLOSED, protocol.BUFFER_SAVED):
        service.buffer_closed(str(message["path"]))
    elif kind == protocol.RESCAN:
        service.rescan()
    else:
        raise ValueError(f"unknown message type {kind!r}")
    return service


def _lower_priority() -> None:
    """Indexing is background work: yield the CPU to the editor and the LSP server (``SRAG_INDEX_NICE``)."""
    try:
        increment = int(os.environ.get("SRAG_INDEX_NICE", "5"))
    except ValueError:
        increment = 5
    if increment > 0 and hasattr(os, "nice"):
        try:
            os.nice(increment)
        except OSError as exc:
            log.debug("cannot lower the worker's priority: %s", exc)


def main() -> int:
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("SRAG_INDEX_LOG_LEVEL", "INFO").upper(),
        format="srag-index-worker[%(process)d] %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("watchdog", "lancedb"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    _lower_priority()
    writer = FrameWriter(_claim_stdout())
    return serve(sys.stdin.buffer, writer)


if __name__ == "__main__":
    sys.exit(main())
