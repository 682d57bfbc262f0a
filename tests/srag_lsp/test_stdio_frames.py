"""A plain JSON-RPC client (no LSP library) drives `srag-lsp --stdio`: stdout must carry LSP frames only.

Every byte the server writes to stdout is parsed as `Content-Length` framed JSON; anything else (a stray
print, a llama.cpp log line) fails the test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

SOURCE = '''def fibonacci(n: int) -> int:
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return <CURSOR>


def main() -> None:
    print(fibonacci(10))
'''.replace("<CURSOR>", "")


class FrameReader:
    """Reads frames from a byte stream strictly; records a protocol violation instead of skipping it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.messages: list[dict[str, Any]] = []
        self.violation: str | None = None
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            headers: dict[str, str] = {}
            while True:
                line = self.stream.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                if not line.endswith(b"\r\n") or b":" not in line:
                    self._fail(f"not an LSP header line: {line[:200]!r}")
                    return
                name, _, value = line.decode("ascii", "replace").partition(":")
                headers[name.strip().lower()] = value.strip()
            if "content-length" not in headers:
                self._fail(f"frame without Content-Length: {headers}")
                return
            body = self.stream.read(int(headers["content-length"]))
            try:
                message = json.loads(body)
            except json.JSONDecodeError:
                self._fail(f"frame body is not JSON: {body[:200]!r}")
                return
            with self.cond:
                self.messages.append(message)
                self.cond.notify_all()

    def _fail(self, why: str) -> None:
        with self.cond:
            self.violation = why
            self.cond.notify_all()

    def wait_response(self, msg_id: int, timeout: float) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            for m in self.messages:
                if m.get("id") == msg_id and ("result" in m or "error" in m):
                    return m
            return None

        with self.cond:
            self.cond.wait_for(lambda: found() is not None or self.violation is not None, timeout)
            assert self.violation is None, self.violation
            message = found()
            assert message is not None, f"no response to request {msg_id} within {timeout} s"
            return message


def send(proc: subprocess.Popen, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode("utf-8")
    assert proc.stdin is not None
    proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    proc.stdin.flush()


def server_command() -> list[str]:
    script = Path(sys.executable).with_name("srag-lsp")
    return [str(script), "--stdio"] if script.exists() else [sys.executable, "-m", "srag_lsp.cli", "--stdio"]


@pytest.mark.model
@pytest.mark.parametrize("embeddings", ["off", "local"])  # local: onnxruntime loads in the server too
def test_plain_client_gets_inline_completion_and_only_frames(tmp_path: Path, embeddings: str) -> None:
    workspace = tmp_path / "project"
    workspace.mkdir()
    source_file = workspace / "fib.py"
    source_file.write_text(SOURCE, encoding="utf-8")
    env = dict(os.environ, SRAG_CACHE_DIR=str(tmp_path / "cache"), SRAG_BACKEND="auto", SRAG_EMBEDDINGS=embeddings,
               OLLAMA_HOST="http://127.0.0.1:9")  # nothing listens on port 9: auto falls back to embedded
    proc = subprocess.Popen(server_command(), cwd=workspace, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    reader = FrameReader(proc.stdout)
    try:
        send(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                    "params": {"processId": os.getpid(), "rootUri": workspace.as_uri(), "capabilities": {}}})
        init = reader.wait_response(1, 120)
        assert "inlineCompletionProvider" in init["result"]["capabilities"]
        send(proc, {"jsonrpc": "2.0", "method": "initialized", "params": {}})
        uri = source_file.as_uri()
        send(proc, {"jsonrpc": "2.0", "method": "textDocument/didOpen",
                    "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": SOURCE}}})
        # Mid-function: after "return " on line 5 (0-based line 4, column 11).
        send(proc, {"jsonrpc": "2.0", "id": 2, "method": "textDocument/inlineCompletion",
                    "params": {"textDocument": {"uri": uri}, "position": {"line": 4, "character": 11},
                               "context": {"triggerKind": 1}}})
        response = reader.wait_response(2, 600)
        assert "error" not in response, response
        items = response["result"]["items"] if isinstance(response["result"], dict) else response["result"]
        assert items and items[0]["insertText"].strip(), response
        send(proc, {"jsonrpc": "2.0", "id": 3, "method": "shutdown"})
        reader.wait_response(3, 60)
        send(proc, {"jsonrpc": "2.0", "method": "exit"})
        proc.wait(60)
        reader.thread.join(10)
        assert reader.violation is None, reader.violation
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
