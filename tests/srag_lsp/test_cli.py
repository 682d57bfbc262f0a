"""The command line's logging setup: what reaches stderr and the editor's log."""

from __future__ import annotations

import logging

import pytest

from srag_lsp.cli import setup_logging


def test_a_cancel_for_an_answered_request_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    setup_logging(0, None, daemon=True)
    setup_logging(0, None, daemon=True)  # twice (a restart in one process): still one filter
    rpc = logging.getLogger("pygls.protocol.json_rpc")
    assert sum(type(f).__name__ == "AnsweredCancels" for f in rpc.filters) == 1
    with caplog.at_level(logging.WARNING):
        rpc.warning('Cancel notification for unknown message id "%s"', 42)
        rpc.warning("something else went wrong")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["something else went wrong"]
