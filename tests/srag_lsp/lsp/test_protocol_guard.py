"""pygls files a Future for every handler it runs; a notification's must leave that table when it is done (issue
23: the soak's daemon grew about 1 kB a keystroke from them). The real server and protocol, fed messages in process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from srag_lsp.lsp.server import create_server
from tests.support.waiting import wait_until_async


async def test_notifications_leave_no_futures_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRAG_CACHE_DIR", str(tmp_path / "cache"))
    server = create_server()
    protocol = server.protocol
    answers: list[Any] = []
    protocol._send_data = answers.append  # no client: answers are kept here

    def send(message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message})
        protocol.handle_message(json.loads(body, object_hook=protocol.structure_message))

    send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    await wait_until_async(lambda: answers, 10, "the answer to initialize")
    for i in range(20):
        uri = f"file:///tmp/srag-futures/{i}.py"
        send({"method": "textDocument/didOpen",
              "params": {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": "x = 1\n"}}})
        send({"method": "textDocument/didChange",
              "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": "y = 2\n"}]}})
        send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
    await wait_until_async(lambda: not protocol._request_futures, 10, "every handler's future to leave the table")
    assert server.workspace.text_documents == {}  # the 60 notifications were all handled
