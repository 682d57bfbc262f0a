"""Model server faults against the real daemon: an Ollama-compatible server (tests/support/ollama_server.py, in
front of the real embedded model) that is down at start, answers errors, dies mid-stream, stalls, or is slow to
its first token. Fault injection is the only fake.

In each case the daemon answers every request (no crash, no hang), says so at most once while the fault
lasts, serves again when the server is healthy, and keeps its threads and sockets (counted in /proc) bounded.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.raw_lsp import RawClient
from tests.support.lsp import server_env
from tests.support.ollama_server import ServerState, serve
from tests.support.waiting import wait_at_rest, wait_until

REPO = Path(__file__).resolve().parents[2]
MODEL = "qwen2.5-coder-0.5b"
SOURCE = "def add(a, b):\n    return "
pytestmark = pytest.mark.model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _client(tmp_path: Path, host: str) -> RawClient:
    env = server_env(tmp_path / "cache", SRAG_BACKEND="ollama", OLLAMA_HOST=host, SRAG_OLLAMA_MODEL=MODEL)
    env.pop("SRAG_INLINE_WAIT_MS", None)
    return RawClient(env, cwd=REPO)


def _threads_and_sockets(pid: int) -> tuple[int, int]:
    threads = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            threads = int(line.split()[1])
    sockets = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return threads, sockets


def _told(client: RawClient) -> list[str]:
    """What the daemon told the user (window/showMessage) by now: at least one message, then everything it sends
    until it is at rest (a late second message shows), up to an answer (what was sent before it has arrived)."""
    said: list[str] = []
    wait_until(lambda: said.extend(client.shown_messages()) or said, 60, "a message to the user")
    wait_at_rest(client.process.pid, what="the daemon at rest after the fault")
    assert "version" in client.request("srag/status", {}, timeout=60)["result"]
    return said + client.shown_messages()


def _all_ended(state: ServerState) -> int | None:
    """Once the server is done with every generate request it got: their number plus one (truthy even for none);
    None before."""
    generations = list(state.generations)
    return len(generations) + 1 if all(g.ended.is_set() for g in generations) else None


class Session:
    """A daemon with one open document; `complete` types a keystroke, then asks for an inline completion."""

    def __init__(self, client: RawClient, root: Path) -> None:
        self.client = client
        self.uri = (root / "calc.py").as_uri()
        self.version = 1
        client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": self.uri, "languageId": "python", "version": 1, "text": SOURCE}},
        )

    def complete(self) -> dict[str, Any]:
        self.version += 1
        text = SOURCE + (" " if self.version % 2 else "")
        self.client.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [{"text": text}]},
        )
        answer = self.client.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": self.uri},
                "position": {"line": 1, "character": len(text.split("\n")[1])},
                "context": {"triggerKind": 1},
            },
            timeout=180,
        )
        assert "result" in answer, answer  # answered, not an error and not a hang
        return answer["result"]


def test_down_at_start_or_mid_session_is_said_once_every_request_is_answered_and_it_comes_back(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    port = _free_port()
    client = _client(tmp_path, f"http://127.0.0.1:{port}")
    try:
        client.initialize(root)
        status = client.wait_settled(timeout=300)
        assert "connection refused" in status["backend_error"]
        session = Session(client, root)
        for _ in range(8):  # eight keystrokes: empty answers, one message
            assert session.complete()["items"] == []
        said = [m for m in _told(client) if "Ollama" in m]
        assert len(said) == 1 and "connection refused" in said[0]
        assert client.process.poll() is None
        # Ollama starts: the daemon's retries find it (backoff 1, 2, 5, 10, 30 s), says so once, and serves.
        with serve([MODEL], port=port):
            deadline = time.monotonic() + 120
            while not client.request("srag/status", {}, timeout=60)["result"].get("ready"):
                assert time.monotonic() < deadline, "the daemon never came back to Ollama"
                time.sleep(0.5)
            assert session.complete()["items"], "a suggestion once Ollama is up"
            said = client.shown_messages()
            assert sum("is up now" in m for m in said) == 1, said
        # Ollama goes away mid-session (its port now refuses connections): answered, said once, no crash...
        for _ in range(4):
            assert session.complete()["items"] == []
        said = _told(client)
        assert len(said) == 1, said  # the user is told, once
        assert client.process.poll() is None
        # ...and when it is back on the same port, the next keystroke gets a suggestion.
        with serve([MODEL], port=port):
            deadline = time.monotonic() + 120
            while not session.complete()["items"]:
                assert time.monotonic() < deadline, "no suggestion after Ollama came back"
                time.sleep(0.5)
    finally:
        client.close()


@pytest.fixture(scope="module")
def healthy_server() -> Iterator[tuple[str, ServerState]]:
    with serve([MODEL]) as (url, state):
        yield url, state


def test_faults_mid_session_then_recovery(tmp_path: Path, healthy_server: tuple[str, ServerState]) -> None:
    url, state = healthy_server
    root = tmp_path / "ws"
    root.mkdir()
    client = _client(tmp_path, url)
    try:
        client.initialize(root)
        assert client.wait_settled(timeout=300).get("ready")
        session = Session(client, root)
        assert session.complete()["items"], "a healthy server gives a suggestion"
        client.shown_messages()
        first = _threads_and_sockets(client.process.pid)
        outcomes: dict[str, list[int]] = {}
        counts = []
        # Two rounds: pools grow lazily in the first; a leak (a thread or socket per fault) shows in the second.
        for round_faults in (
            (("error", 4), ("die_after=2", 3), ("slow_first=3", 2), ("stall", 1)),
            (("error", 4), ("die_after=2", 3), ("slow_first=3", 2)),
        ):
            for fault, keystrokes in round_faults:
                state.stall_release.clear()
                state.fault = fault
                outcomes[fault] = [len(session.complete()["items"]) for _ in range(keystrokes)]
                said = client.shown_messages()
                assert len(said) <= 1, (fault, said)  # never one message per keystroke
                if fault == "error":
                    assert len(said) == 1 and "the model failed" in said[0], said  # but the user is told
                assert client.process.poll() is None
                state.stall_release.set()
            state.fault = ""
            assert session.complete()["items"], "the next request after the faults works"
            wait_at_rest(client.process.pid, also=lambda: _all_ended(state), what="the daemon and the server at rest")
            counts.append(_threads_and_sockets(client.process.pid))
        (threads_1, sockets_1), (threads_2, sockets_2) = counts
        print(f"faults {outcomes}; threads", first[0], threads_1, threads_2, "sockets", first[1], sockets_1, sockets_2)
        assert threads_2 <= threads_1 + 1 and sockets_2 <= sockets_1 + 1  # nothing leaked per fault
        assert outcomes["slow_first=3"] != [0, 0]  # slow is not broken: the suggestion still comes
    finally:
        state.fault = ""
        state.stall_release.set()
        client.close()
