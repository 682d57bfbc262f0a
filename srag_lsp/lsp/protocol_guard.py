"""pygls's LSP protocol, made to answer every request a client can send, however wrong.

pygls (2.1) leaves some requests unanswered, and a client waiting on one hangs: a request without
``params`` (valid JSON-RPC, what a client sends for ``srag/status``), a request whose params do not fit the
method's type (a negative line), any request after ``shutdown``. This subclass answers them with the LSP
errors the specification names (InvalidParams, InvalidRequest after shutdown, ServerNotInitialized before
``initialize``) and leaves every well-formed message to pygls. Valid JSON that is not a JSON-RPC message (an
array, an object without ``jsonrpc``) gets InvalidRequest (-32600); a body that is not JSON at all gets
ParseError (-32700), both with a null id as JSON-RPC 2.0 says (``answer_parse_error``, called by the server).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger(__name__)

SERVER_NOT_INITIALIZED = -32002  # LSP's ServerNotInitialized
PARSE_ERROR = -32700  # JSON-RPC's ParseError


class _Answered:
    """What :meth:`GuardedProtocol.structure_message` returns for a request it has already answered."""

    jsonrpc = None


_ANSWERED = _Answered()


class GuardedProtocol(LanguageServerProtocol):
    """Every request gets an answer: a result, or an LSP error naming what was wrong."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_seen = False

    def structure_message(self, data: dict[str, Any]) -> Any:
        # json.loads calls this for every object in a message; only the message itself has "jsonrpc".
        if not isinstance(data, dict) or "jsonrpc" not in data:
            return data
        if "method" in data and "params" not in data:
            data = {**data, "params": None}  # JSON-RPC allows leaving params out; pygls does not
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" not in data or "method" not in data:
                raise  # a notification or a response: nobody waits for an answer (pygls logs it)
            message = f"invalid params for {data['method']}: {_innermost(exc.__cause__ or exc)}"
            log.warning("request %r: %s", data["id"], message)
            self._answer_error(data["id"], JsonRpcInvalidParams.CODE, message)
            return _ANSWERED

    def handle_message(self, message: Any) -> None:
        if message is _ANSWERED:
            return
        if isinstance(message, dict) or not hasattr(message, "jsonrpc"):
            msg_id = message.get("id") if isinstance(message, dict) else None
            log.warning("not a JSON-RPC message: %.200r", message)
            self._answer_error(msg_id if isinstance(msg_id, (int, str)) else None, JsonRpcInvalidRequest.CODE,
                               "not a JSON-RPC 2.0 message")
            return
        method = getattr(message, "method", None)
        msg_id = getattr(message, "id", None)
        if method is not None and msg_id is not None:  # a request
            if self._shutdown:
                self._answer_error(msg_id, JsonRpcInvalidRequest.CODE, f"{method}: the server is shutting down")
                return
            if method == types.INITIALIZE:
                self._initialize_seen = True
            elif not self._initialize_seen:
                self._answer_error(msg_id, SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized yet")
                return
        super().handle_message(message)

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None) -> None:
        # pygls (2.1) files the future of every handler it runs under ``_request_futures`` (so that a
        # ``$/cancelRequest`` can find it) but takes it out only when it answers a request. A notification (its id a
        # fresh uuid) is never answered: each ``didChange``/``didOpen``/``didClose`` left a Future, its Condition
        # and its uuid behind for good, about 1 kB a keystroke (issue 23: the soak's daemon grew ~1 MB a minute
        # from it). Every handler's future now leaves the table when it is done; a request's answer is sent by
        # pygls's own callback as before.
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(partial(self._forget_future, msg_id))

    def _forget_future(self, msg_id: Any, future: Any) -> None:
        if self._request_futures.get(msg_id) is future:
            self._request_futures.pop(msg_id, None)

    def answer_parse_error(self, error: Exception) -> None:
        """A message body that is not JSON: say so (id null: nobody can tell which request it was)."""
        log.warning("a message that is not JSON: %s", error)
        self._answer_error(None, PARSE_ERROR, f"Parse error: {error}")

    def _answer_error(self, msg_id: Any, code: int, message: str) -> None:
        if msg_id is None:  # lsprotocol's converter would drop a null id; JSON-RPC wants it there
            self._send_data({"jsonrpc": "2.0", "id": None, "error": {"code": code, "message": message}})
            return
        try:
            self._send_response(msg_id, error=types.ResponseError(code=code, message=message))
        except Exception as exc:  # an id that cannot be echoed back (not a string or an integer)
            log.warning("cannot answer request %r: %s", msg_id, exc)


def _innermost(exc: BaseException) -> str:
    """The first leaf of cattrs' exception groups: "Position.line should be in range ..., but was -1"."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc)[:300]}"
