"""The LSP server's handle on the indexer worker process: start it, feed it changes, restart it when it dies.

:class:`IndexClient` runs ``python -m indexer.worker`` with :func:`asyncio.create_subprocess_exec` and talks
:mod:`indexer.protocol` frames over its pipes. Sends never block the caller: file changes are coalesced
into one set, buffer changes into the newest message per path, and a single writer task drains them. A
worker that exits or breaks its pipe is logged and restarted with backoff (a bounded number of times); the
restarted worker gets ``start`` again plus the buffers that are still open, so overlays survive a crash.

Events from the worker reach ``on_event(message)`` (or ``on_event(kind, payload)`` when the callback takes
two arguments): ``ready``, ``progress``, ``indexed``, ``status``, ``error``, plus two from the client
itself: ``worker_exited {returncode}`` and ``worker_failed {message}`` (restarts exhausted). Call the
methods from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from indexer import protocol

log = logging.getLogger(__name__)

# on_event(message) with the whole message, or on_event(kind, payload) (the message without "type")
EventFn = Callable[..., Any]

_PACKAGE_PARENT = str(Path(__file__).resolve().parent.parent)


class IndexClient:
    """Asyncio client of one indexer worker (one workspace)."""

    def __init__(
        self,
        *,
        python: str | None = None,
        max_restarts: int = 5,
        restart_window_s: float = 600.0,
        backoff_s: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0),
        max_pending_paths: int = 10_000,
        max_control_messages: int = 1_000,
        env: dict[str, str] | None = None,
    ) -> None:
        self.python = python or sys.executable
        self.max_restarts = max_restarts
        self.restart_window_s = restart_window_s
        self.backoff_s = backoff_s
        self.max_pending_paths = max_pending_paths
        self.max_control_messages = max_control_messages
        self._env = env
        self._root = ""
        self._index_dir: str | None = None
        self._settings: dict[str, Any] = {}
        self._on_event: EventFn | None = None
        self._event_two_args = False
        self._proc: asyncio.subprocess.Process | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._supervisor: asyncio.Task[None] | None = None
        self._control: deque[dict[str, Any]] = deque()
        self._pending_files: set[str] = set()
        self._pending_rescan = False
        self._pending_buffers: dict[str, dict[str, Any]] = {}
        self._overlays: dict[str, dict[str, Any]] = {}  # open unsaved buffers, replayed after a restart
        self._wake: asyncio.Event | None = None
        self._status_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._restarts: deque[float] = deque()
        self._stopping = False
        self.state = "stopped"  # stopped | starting | running | restarting | failed
        self.last_status: dict[str, Any] = {}
        self.restart_count = 0
        self.dropped_messages = 0
        self._event_tasks: set[asyncio.Future[Any]] = set()

    # -- lifecycle ------------------------------------------------------------------------------------------
    async def start(
        self,
        root: str | Path,
        index_dir: str | None = None,
        settings: dict[str, Any] | None = None,
        on_event: EventFn | None = None,
    ) -> None:
        """Start the worker for ``root`` and return once it runs (indexing goes on in the background)."""
        if self._supervisor is not None:
            raise RuntimeError("the index client is already started")
        self._root = str(Path(root).expanduser().resolve())
        self._index_dir = str(index_dir) if index_dir else None
        self._settings = dict(settings or {})
        self._on_event = on_event
        self._event_two_args = _takes_two_arguments(on_event)
        self._stopping = False
        self._wake = asyncio.Event()
        self.state = "starting"
        await self._spawn()
        self._supervisor = asyncio.create_task(self._supervise(), name="srag-index-supervisor")

    async def stop(self, timeout: float = 10.0) -> None:
        """Ask the worker to finish and exit; kill it if it does not within ``timeout``."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None and proc.stdin is not None:
            with contextlib.suppress(Exception):
                proc.stdin.write(protocol.encode({"type": protocol.SHUTDOWN}))
                await asyncio.wait_for(proc.stdin.drain(), timeout=1.0)
                proc.stdin.close()
        if proc is not None and proc.returncode is None:
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                log.warning("the indexer worker did not stop in %.0fs; killing it", timeout)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        for task in [*self._tasks, *([self._supervisor] if self._supervisor else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._supervisor] if self._supervisor else [])]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._supervisor = None
        self._proc = None
        self.state = "stopped"
        for waiter in self._status_waiters.values():
            if not waiter.done():
                waiter.cancel()
        self._status_waiters.clear()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    @property
    def running(self) -> bool:
        return self.state == "running" and self.pid is not None

    # -- fire-and-forget sends ---------------------------------------------------------------------------
    def notify_file_changed(self, paths: Iterable[str]) -> None:
        """Files changed on disk (absolute or workspace-relative paths); coalesced until sent."""
        if self._pending_rescan:
            return
        self._pending_files.update(str(p) for p in paths)
        if len(self._pending_files) > self.max_pending_paths:
            log.info("more than %d changed paths pending: asking for a rescan instead", self.max_pending_paths)
            self._pending_files.clear()
            self._pending_rescan = True
        self._kick()

    def buffer_changed(self, path: str, text: str, version: int) -> None:
        """An unsaved buffer's full text: indexed as an overlay that wins over the file on disk."""
        message = {"type": protocol.BUFFER_CHANGED, "path": str(path), "text": text, "version": int(version)}
        self._overlays[str(path)] = message
        self._pending_buffers[str(path)] = message
        self._kick()

    def buffer_closed(self, path: str) -> None:
        """The buffer was closed: the file on disk is the truth again."""
        self._end_buffer(path, protocol.BUFFER_CLOSED)

    def buffer_saved(self, path: str) -> None:
        """The buffer was saved: index the file from disk and drop the overlay."""
        self._end_buffer(path, protocol.BUFFER_SAVED)

    def rescan(self) -> None:
        self._pending_rescan = True
        self._pending_files.clear()
        self._kick()

    async def status(self, timeout: float = 2.0) -> dict[str, Any]:
        """The worker's status; the last known one (``stale: true``) if it does not answer within ``timeout``."""
        if not self.running:
            return {**self.last_status, "worker": self.state, "stale": True}
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._status_waiters[request_id] = future
        self._enqueue({"type": protocol.STATUS, "id": request_id})
        try:
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return {**self.last_status, "worker": self.state, "stale": True}
        finally:
            self._status_waiters.pop(request_id, None)
        return {**reply, "worker": self.state, "stale": False}

    # -- internals ----------------------------------------------------------------------------------------
    def _end_buffer(self, path: str, kind: str) -> None:
        self._overlays.pop(str(path), None)
        self._pending_buffers[str(path)] = {"type": kind, "path": str(path)}
        self._kick()

    def _enqueue(self, message: dict[str, Any]) -> None:
        if len(self._control) >= self.max_control_messages:
            dropped = self._control.popleft()
            self.dropped_messages += 1
            log.warning("indexer queue full: dropped a %s message", dropped.get("type"))
        self._control.append(message)
        self._kick()

    def _kick(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _spawn(self) -> None:
        env = dict(os.environ if self._env is None else self._env)
        env["PYTHONPATH"] = _PACKAGE_PARENT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env.setdefault("MALLOC_ARENA_MAX", "2")  # LanceDB's threads otherwise fragment the heap (measured)
        proc = await asyncio.create_subprocess_exec(
            self.python,
            "-m",
            "indexer.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=None,  # the worker logs to our stderr
            env=env,
        )
        self._proc = proc
        start = {"type": protocol.START, "root": self._root, "index_dir": self._index_dir, "settings": self._settings}
        self._control.appendleft(start)
        # unsaved buffers go again after a restart; a pending message for the same path is newer
        for path, message in self._overlays.items():
            self._pending_buffers.setdefault(path, message)
        self._tasks = [
            asyncio.create_task(self._read_loop(proc), name="srag-index-reader"),
            asyncio.create_task(self._write_loop(proc), name="srag-index-writer"),
        ]
        self.state = "running"
        self._kick()
        log.info("indexer worker started (pid %d) for %s", proc.pid, self._root)

    async def _supervise(self) -> None:
        while not self._stopping:
            proc = self._proc
            if proc is None:
                return
            returncode = await proc.wait()
            for task in self._tasks:
                task.cancel()
            if self._stopping:
                return
            log.error("the indexer worker (pid %d) exited with status %s", proc.pid, returncode)
            self._fail_waiters()
            self._event({"type": "worker_exited", "returncode": returncode})
            now = time.monotonic()
            while self._restarts and now - self._restarts[0] > self.restart_window_s:
                self._restarts.popleft()
            if len(self._restarts) >= self.max_restarts:
                message = f"the indexer worker crashed {len(self._restarts) + 1} times; indexing is off"
                log.error(message)
                self.state = "failed"
                self.last_status = {**self.last_status, "last_error": message}
                self._event({"type": "worker_failed", "message": message})
                return
            delay = self.backoff_s[min(len(self._restarts), len(self.backoff_s) - 1)]
            self._restarts.append(now)
            self.state = "restarting"
            await asyncio.sleep(delay)
            if self._stopping:
                return
            try:
                await self._spawn()
                self.restart_count += 1
            except OSError as exc:
                log.error("cannot restart the indexer worker: %s", exc)
                self.state = "failed"
                self._event({"type": "worker_failed", "message": str(exc)})
                return

    async def _read_loop(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        try:
            while True:
                message = await protocol.read_frame_async(proc.stdout)
                if message is None:
                    return
                self._dispatch(message)
        except protocol.ProtocolError as exc:
            log.error("unreadable frame from the indexer worker: %s; restarting it", exc)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("reading from the indexer worker failed")

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == protocol.STATUS:
            request_id = message.get("id")
            self.last_status = {k: v for k, v in message.items() if k not in ("type", "id")}
            waiter = self._status_waiters.get(request_id) if isinstance(request_id, int) else None
            if waiter is not None and not waiter.done():
                waiter.set_result(dict(self.last_status))
            if request_id is not None:
                return  # an answer to our question, not news for the caller
        self._event(message)

    async def _write_loop(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdin is not None and self._wake is not None
        stdin = proc.stdin
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                for message in self._take_outgoing():
                    stdin.write(protocol.encode(message))
                    await stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            log.info("the indexer worker's input closed (%s)", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("writing to the indexer worker failed")

    def _take_outgoing(self) -> list[dict[str, Any]]:
        out = list(self._control)
        self._control.clear()
        if self._pending_rescan:
            out.append({"type": protocol.RESCAN})
            self._pending_rescan = False
        if self._pending_files:
            out.append({"type": protocol.FILE_CHANGED, "paths": sorted(self._pending_files)})
            self._pending_files.clear()
        out.extend(self._pending_buffers.values())
        self._pending_buffers.clear()
        return out

    def _fail_waiters(self) -> None:
        for waiter in self._status_waiters.values():
            if not waiter.done():
                waiter.set_result({**self.last_status, "worker": "restarting"})

    def _event(self, message: dict[str, Any]) -> None:
        if self._on_event is None:
            return
        try:
            if self._event_two_args:
                payload = {k: v for k, v in message.items() if k != "type"}
                result = self._on_event(message.get("type"), payload)  # type: ignore[call-arg]
            else:
                result = self._on_event(message)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._event_tasks.add(task)
                task.add_done_callback(self._event_tasks.discard)
        except Exception:  # the caller's bug must not stop the reader
            log.exception("the index event handler failed")


def _takes_two_arguments(callback: Callable[..., Any] | None) -> bool:
    """Whether ``callback`` wants ``(kind, payload)`` rather than the whole message."""
    if callback is None:
        return False
    try:
        parameters = inspect.signature(callback).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        and p.default is inspect.Parameter.empty
    ]
    return len(positional) >= 2
