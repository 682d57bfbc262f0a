"""Shared model fixtures: each real model is loaded once per test session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.settings import default_model_dir
from tests.support.ollama_server import ServerState, serve


def _started(name: str) -> EmbeddedBackend:
    backend = EmbeddedBackend(name, model_dir=default_model_dir(), slot="tests")
    asyncio.run(backend.start())
    return backend


@pytest.fixture(scope="session")
def qwen() -> EmbeddedBackend:
    return _started("qwen2.5-coder-0.5b")


@pytest.fixture(scope="session")
def gemma() -> EmbeddedBackend:
    return _started("gemma3-270m")


@pytest.fixture(scope="session")
def ollama_server() -> Iterator[tuple[str, ServerState]]:
    """An Ollama-compatible server with real tokens from qwen (FIM) and gemma (no FIM)."""
    with serve(["qwen2.5-coder-0.5b", "gemma3-270m"]) as running:
        yield running


@pytest.fixture(scope="session")
def llama_server() -> Iterator[str]:
    """A real llama-server (built from the llama.cpp llama-cpp-python vendors) serving the 0.5B; its base URL."""
    from tests.support.llama_server import running_llama_server

    with running_llama_server() as server:
        yield server.url
