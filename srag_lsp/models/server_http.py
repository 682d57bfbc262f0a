"""HTTP plumbing the model-server backends share (OpenAI-compatible and llama-server): the client and its key
header, server-sent event streams with a stall limit, and one message per kind of failure, naming what to fix.

The key is read from the environment variable the settings name, at each start, and goes only into the
``Authorization`` header: never into a message, a log line, a trace or ``srag/status``.
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from srag_lsp.models.base import BackendError

# A stalled server (no byte for this long, first token included) ends the stream with a BackendError.
STALL_TIMEOUT_S = 30.0
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def key_from_environment(env_name: str) -> str:
    """The key in the environment variable ``env_name`` ("" when no name is set); BackendError when it is empty."""
    if not env_name:
        return ""
    key = os.environ.get(env_name, "")
    if not key:
        raise BackendError(f"the environment variable {env_name} (openaiApiKeyEnv) is not set in the daemon's "
                           "environment: set it to the server's key, or clear openaiApiKeyEnv")
    return key


def make_client(key: str, *, connect_timeout: float, read_timeout: float) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(read_timeout, connect=connect_timeout))


def connection_problem(exc: BaseException) -> str:
    """A few words on why talking to the server failed."""
    chain = causes(exc)
    if any(isinstance(e, ConnectionRefusedError) or "refused" in str(e).lower() for e in chain):
        return "connection refused"
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "unknown host"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return "the connection was closed"
    return str(exc) or type(exc).__name__


def error_text(response: httpx.Response) -> str:
    """The server's own words from an error body (OpenAI's ``{"error": {"message"}}``, llama-server's, or text)."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text.strip()[:300]
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("detail") or error)[:300]
        if isinstance(error, str):
            return error[:300]
        return str(body.get("detail") or body.get("message") or body)[:300]
    return str(body)[:300]


def status_error(where: str, response: httpx.Response, *, key_env: str = "", model: str = "") -> BackendError:
    """One message for an HTTP error status, naming what to fix."""
    code = response.status_code
    said = error_text(response)
    if code in (401, 403):
        fix = (f"check the key in the environment variable {key_env} (openaiApiKeyEnv)" if key_env else
               "the server wants a key: set openaiApiKeyEnv to the name of an environment variable that holds it")
        return BackendError(f"the model server at {where} refused the request (HTTP {code}): {fix}")
    if code == 404 and model:
        return BackendError(f"the model server at {where} does not have the model {model!r} (HTTP 404: {said})")
    if code == 404:
        return BackendError(f"the model server at {where} has no such endpoint (HTTP 404: {said}): is the URL right?")
    if 400 <= code < 500:
        return BackendError(f"the model server at {where} rejected the request (HTTP {code}): {said}")
    return BackendError(f"the model server at {where} failed (HTTP {code}): {said}")


def transport_error(where: str, exc: httpx.HTTPError, *, answered: bool, read_timeout: float) -> BackendError:
    """One message for a failure below HTTP: nothing there, a stall, or a stream broken off."""
    if isinstance(exc, httpx.ConnectTimeout):
        return BackendError(f"no model server at {where} (connecting timed out)")
    if isinstance(exc, httpx.TimeoutException):
        when = "between two tokens" if answered else "before the first token"
        return BackendError(f"the model server at {where} stalled: nothing for {read_timeout:.0f} s {when}")
    if answered:
        return BackendError(f"the model server at {where} broke off the stream ({connection_problem(exc)})")
    return BackendError(f"no model server at {where} ({connection_problem(exc)})")


async def get_json(client: httpx.AsyncClient, url: str, where: str, *, key_env: str = "",
                   timeout: float | None = None) -> Any:
    """GET ``url`` as JSON; BackendError with the message for whatever went wrong."""
    try:
        response = await client.get(url, timeout=timeout) if timeout else await client.get(url)
    except httpx.HTTPError as exc:
        raise transport_error(where, exc, answered=False, read_timeout=timeout or 0) from None
    if response.status_code >= 400:
        raise status_error(where, response, key_env=key_env)
    try:
        return response.json()
    except ValueError:
        raise BackendError(f"the server at {where} is not a model server ({url} did not answer JSON)") from None


async def post_json(client: httpx.AsyncClient, url: str, body: dict[str, Any], where: str, *,
                    key_env: str = "", model: str = "", read_timeout: float = STALL_TIMEOUT_S) -> Any:
    """POST ``body`` and read the JSON answer; BackendError with the message for whatever went wrong."""
    try:
        response = await client.post(url, json=body)
    except httpx.HTTPError as exc:
        raise transport_error(where, exc, answered=False, read_timeout=read_timeout) from None
    if response.status_code >= 400:
        raise status_error(where, response, key_env=key_env, model=model)
    try:
        return response.json()
    except ValueError:
        raise BackendError(f"the model server at {where} sent an answer that is not JSON") from None


async def sse_events(client: httpx.AsyncClient, url: str, body: dict[str, Any], where: str, *,
                     key_env: str = "", model: str = "", read_timeout: float = STALL_TIMEOUT_S,
                     ) -> AsyncIterator[dict[str, Any]]:
    """The JSON events of a server-sent event stream (POST ``body``), until ``[DONE]`` or the stream's end.

    Closing or cancelling the iterator closes the HTTP response, which tells the server to stop generating. An
    error status, an error event, a stall, a cut stream and a malformed event each raise BackendError.
    """
    answered = False
    try:
        async with aconnect_sse(client, "POST", url, json=body) as source:
            response = source.response
            if response.status_code >= 400:
                await response.aread()
                raise status_error(where, response, key_env=key_env, model=model)
            async for event in source.aiter_sse():
                answered = True
                if event.data.strip() == "[DONE]":
                    return
                if not event.data.strip():
                    continue
                try:
                    payload = json.loads(event.data)
                except ValueError:
                    raise BackendError(f"the model server at {where} sent a malformed event") from None
                if not isinstance(payload, dict):
                    raise BackendError(f"the model server at {where} sent a malformed event")
                if "error" in payload:
                    error = payload["error"]
                    message = error.get("message", error) if isinstance(error, dict) else error
                    raise BackendError(f"the model server at {where} failed mid-stream: {message}")
                yield payload
    except SSEError:
        raise BackendError(f"the model server at {where} did not answer with an event stream") from None
    except httpx.HTTPError as exc:
        raise transport_error(where, exc, answered=answered, read_timeout=read_timeout) from None
