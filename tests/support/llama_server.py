"""A real llama.cpp ``llama-server`` for tests: the binary scripts/build_llama_server.sh builds (or takes from its
cache), serving the embedded default's GGUF on a free loopback port with llama.vim's preset flags and what the README
asks of a server for srag-lsp (``FOR_SRAG``), stopped by its process id at the end."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from benchmarks.llama_server import FOR_SRAG, LlamaServer, build, model_file


@contextlib.contextmanager
def running_llama_server(log_dir: Path | None = None) -> Iterator[LlamaServer]:
    """A started llama-server; its log goes to ``log_dir`` (a temporary folder when None)."""
    with contextlib.ExitStack() as stack:
        folder = log_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="srag-llama-server-")))
        server = LlamaServer(build(), model_file(), log_path=folder / "llama-server.log", extra_flags=FOR_SRAG)
        server.start()
        stack.callback(server.stop)
        yield server
