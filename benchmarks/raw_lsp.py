"""A raw JSON-RPC client for the real `srag-lsp --stdio` process: frames of our own making, malformed ones too.

pytest-lsp speaks correct LSP; protocol-abuse tests need to send what a correct client never would (invalid
JSON, requests before `initialize` or after `shutdown`, out-of-range values) and to read every answer. The soak
(benchmarks/soak.py) drives the daemon with it from threads. Nothing here imports ``tests``.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.lsp_session import SERVER


class RawClient:
    """One daemon process; `request` waits for the answer with that id, notifications are kept."""

    def __init__(self, env: dict[str, str], cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            SERVER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self._ids = itertools.count(1)
        self._answers: dict[Any, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        self.stderr_lines: list[str] = []
        self.bad_frames: list[bytes] = []  # anything on stdout that is not a well-formed frame
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # -- sending ----------------------------------------------------------------------------------------
    def send_raw(self, body: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.process.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(json.dumps({"jsonrpc": "2.0", **message}).encode())

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"method": method, **({} if params is None else {"params": params})})

    def request_async(self, method: str, params: Any = None) -> int:
        rid = next(self._ids)
        self.send({"id": rid, "method": method, **({} if params is None else {"params": params})})
        return rid

    def wait(self, rid: Any, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while rid not in self._answers:
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and rid not in self._answers):
                    raise TimeoutError(f"no answer to request {rid} (server exit code {self.process.poll()})")
                self._cond.wait(min(left, 0.5))
            return self._answers.pop(rid)

    def request(self, method: str, params: Any = None, timeout: float = 120) -> dict[str, Any]:
        return self.wait(self.request_async(method, params), timeout)

    def initialize(self, root: Path, options: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "capabilities": {},
                "initializationOptions": options or {},
            },
        )
        self.notify("initialized", {})
        return answer

    # -- reading ----------------------------------------------------------------------------------------
    def _read(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        while True:
            header = b""
            while not header.endswith(b"\r\n\r\n"):
                byte = stream.read(1)
                if not byte:
                    with self._cond:
                        self._cond.notify_all()
                    return
                header += byte
            length = None
            for line in header.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length is None:
                self.bad_frames.append(header)
                continue
            body = stream.read(length)
            try:
                message = json.loads(body)
            except ValueError:
                self.bad_frames.append(body)
                continue
            if "id" in message and "method" not in message:
                with self._cond:
                    self._answers[message["id"]] = message
                    self._cond.notify_all()
            else:
                self.notifications.put(message)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line.decode("utf-8", "replace"))
            if len(self.stderr_lines) > 20000:
                del self.stderr_lines[:10000]

    def wait_settled(self, timeout: float = 600, poll_s: float = 0.3) -> dict[str, Any]:
        """Poll ``srag/status`` until the model backend is up or reported broken; that status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.request("srag/status", {}, timeout=60)["result"]
            if status.get("ready") or status.get("backend_error"):
                return status
            time.sleep(poll_s)
        raise TimeoutError(f"the model backend did not settle in {timeout:.0f} s")

    def drain(self) -> list[dict[str, Any]]:
        """The notifications received since the last call."""
        out = []
        while not self.notifications.empty():
            out.append(self.notifications.get())
        return out

    def shown_messages(self) -> list[str]:
        """``window/showMessage`` texts received since the last call (other notifications are dropped)."""
        return [m["params"]["message"] for m in self.drain() if m.get("method") == "window/showMessage"]

    # -- the process ------------------------------------------------------------------------------------
    def rss_mb(self) -> float:
        """Resident memory of the daemon process (and any children it started), in MB."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def close(self, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            try:
                rid = self.request_async("shutdown")
                self.wait(rid, timeout)
                self.notify("exit")
                self.process.wait(timeout)
            except Exception:
                self.process.kill()
                self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        return self.process.returncode


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    kids = [int(p) for p in text.split()]
    return kids + [grandchild for kid in kids for grandchild in _children(kid)]
