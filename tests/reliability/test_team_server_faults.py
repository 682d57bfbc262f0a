"""A team's model server and its faults, against the real daemon: backends ``openai`` and ``llama-server`` in front
of the scripted test server (tests/support/openai_server.py: real tokens from the embedded model; 401, 500, a
stream cut mid-token and a stall are its only fakes), with a key in the environment.

For each backend and each fault, the daemon answers every request (no crash, no hang), tells the user once,
serves again when the server is healthy, and the key appears in no log line, trace or status answer.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.raw_lsp import RawClient
from tests.reliability.test_model_server_faults import Session, _told
from tests.support.lsp import server_env
from tests.support.openai_server import serve_openai

REPO = Path(__file__).resolve().parents[2]
MODEL = "qwen2.5-coder-0.5b"
KEY = "sk-team-5f3a9c1e77d24b08"
pytestmark = pytest.mark.model


def _client(tmp_path: Path, backend: str, url: str) -> RawClient:
    env = server_env(tmp_path / "cache", SRAG_BACKEND=backend, SRAG_OPENAI_BASE_URL=f"{url}/v1",
                     SRAG_OPENAI_MODEL=MODEL, SRAG_LLAMA_SERVER_URL=url, SRAG_OPENAI_API_KEY_ENV="TEAM_KEY",
                     TEAM_KEY=KEY)
    env.pop("SRAG_INLINE_WAIT_MS", None)
    return RawClient(env, cwd=REPO)


@pytest.mark.parametrize("backend", ["openai", "llama-server"])
def test_faults_are_said_once_and_the_server_serves_again_without_the_key_anywhere(tmp_path: Path,
                                                                                   backend: str) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    with serve_openai([MODEL], api_key=KEY) as (url, state):
        client = _client(tmp_path, backend, url)
        try:
            client.initialize(root)
            status = client.wait_settled(timeout=300)
            assert status.get("ready"), status
            served_by = {"openai": f"{url}/v1", "llama-server": url}[backend]
            assert status["backend"] == backend and status["server"] == served_by and status["model"]
            session = Session(client, root)
            assert session.complete()["items"], "a healthy server gives a suggestion"
            client.shown_messages()
            for fault, keystrokes in (("server_error", 3), ("die_after=2", 3), ("unauthorized", 2), ("stall", 1)):
                state.stall_release.clear()
                state.fault = fault
                for _ in range(keystrokes):
                    session.complete()  # answered (Session asserts a result), whatever it holds
                state.stall_release.set()
                state.fault = ""
                said = _told(client)
                assert len(said) == 1, (fault, said)  # the user is told, once
                assert client.process.poll() is None
                assert session.complete()["items"], f"the next request after {fault} works"
                client.shown_messages()
            assert all("suffix" not in body for _, body in state.bodies)
            status_text = str(client.request("srag/status", {}, timeout=60)["result"])
        finally:
            state.fault = ""
            state.stall_release.set()
            client.close()
    logs = "".join(client.stderr_lines)
    traces = "".join(p.read_text(errors="replace") for p in (tmp_path / "cache").rglob("*") if p.is_file()
                     and p.suffix in (".jsonl", ".json", ".log"))
    assert logs and KEY not in logs and KEY not in traces and KEY not in status_text
