"""`srag-lsp doctor`: the checks to run when something doesn't work, each with what it found and how to fix it.

The same checks back Neovim's `:checkhealth srag` and VS Code's "srag-lsp: Run Doctor" (both call
`srag-lsp doctor --json`). A check never raises: whatever goes wrong inside one is its finding.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from srag_lsp import __version__
from srag_lsp.models.llama_abi import CPU_FLAGS
from srag_lsp.settings import Settings

STATUSES = ("ok", "info", "warn", "fail")
CLONE = Path(__file__).resolve().parents[1]  # the repository root when srag-lsp runs from a clone
SETUP_HINT = "scripts/setup.sh in the srag-lsp clone"


@dataclass(slots=True)
class Finding:
    name: str
    status: str  # ok | info | warn | fail
    detail: str
    fix: str = ""


def check_python() -> Finding:
    version = platform.python_version()
    if sys.version_info[:2] != (3, 11):
        return Finding("python", "fail", f"Python {version}, srag-lsp {__version__}", "use Python 3.11 (" +
                       SETUP_HINT + " picks python3.11)")
    return Finding("python", "ok", f"Python {version} at {sys.executable}, srag-lsp {__version__}")


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def check_llama() -> Finding:
    try:
        import llama_cpp
    except Exception as exc:  # ImportError, or a library that does not load on this CPU
        return Finding("llama.cpp", "fail", f"llama-cpp-python does not import: {exc}",
                       f"run {SETUP_HINT} (it installs llama.cpp for this CPU)")
    from srag_lsp.models.llama_abi import layout_problem, library_flags, prebuilt_library

    used = library_flags()
    have = cpu_flags()
    prebuilt = prebuilt_library()
    origin = f"prebuilt library from {prebuilt}" if prebuilt else "built from source"
    detail = (f"llama-cpp-python {getattr(llama_cpp, '__version__', '?')} ({origin}), for "
              f"{' '.join(sorted(used)) or 'no SIMD flags'}")
    problem = layout_problem()
    if problem:
        return Finding("llama.cpp", "fail", f"{detail}; {problem}",
                       f"build it from source: SRAG_LLAMA=source {SETUP_HINT}")
    lacking = sorted(flag for flag in used if CPU_FLAGS[flag] not in have) if have else []
    if lacking:
        return Finding("llama.cpp", "fail", f"{detail}; this CPU lacks {' '.join(lacking)} (it would crash)",
                       f"rebuild for this CPU: {SETUP_HINT} (the wheel cache is keyed by CPU flags)")
    if "AMX_INT8" in used:
        return Finding("llama.cpp", "warn", f"{detail}; AMX builds crash on the first evaluation on some Xeons",
                       f"rebuild without GGML_NATIVE: {SETUP_HINT}")
    if "avx512f" in have and "AVX512" not in used:
        return Finding("llama.cpp", "warn", f"{detail}; this CPU has AVX-512, which is about 1.4x faster",
                       f"build it for this CPU: SRAG_LLAMA=source {SETUP_HINT}")
    return Finding("llama.cpp", "ok", detail)


def _weights_note(settings: Settings, shipped: Path) -> str:
    """Where the daemon runs a catalogue model from its BF16 copy (``embeddedWeights``), say which file."""
    from srag_lsp.models.bf16_weights import made_copy, native_bf16

    if settings.embedded_weights != "auto" or not native_bf16():
        return ""
    copy = made_copy(shipped)
    if copy is None:
        return "; its BF16 copy for this CPU is made at first use (or now: srag-lsp models)"
    return f"; runs from its BF16 copy {copy.name} (embeddedWeights auto)"


def check_models(settings: Settings) -> list[Finding]:
    from srag_lsp.models.catalog import CATALOG, ModelUnavailable, _intact, part_paths, resolve

    wanted = {m for m in (settings.embedded_model, settings.draft_model, settings.refine_model) if m}
    out = []
    for name, entry in CATALOG.items():
        target = settings.model_path() / entry.file_name
        required = name in wanted
        label = f"model {name}"
        if target.is_file():
            if _intact(entry, target):
                out.append(Finding(label, "ok", f"{target} (sha256 verified){_weights_note(settings, target)}"))
            else:
                out.append(Finding(label, "fail" if required else "warn",
                                   f"{target} is damaged (its size or sha256 is not the pinned one)",
                                   f"delete it and assemble it again: srag-lsp models {name}"))
            continue
        try:
            part_paths(entry)
            installed = True
        except ModelUnavailable:
            installed = False
        if installed:
            out.append(Finding(label, "info" if not required else "warn",
                               f"its packages are installed, not assembled yet into {target}",
                               f"srag-lsp models {name} (the first use does it too)"))
        elif required:
            out.append(Finding(label, "fail", f"missing: {target} is not there and its packages are not installed",
                               f"pip install 'srag-lsp[embedded]' (or {SETUP_HINT}), then srag-lsp models {name}"))
        else:
            out.append(Finding(label, "info", "not installed (optional)",
                               "pip install 'srag-lsp[large]'" if name == "qwen2.5-coder-1.5b" else ""))
    for name in sorted(wanted - set(CATALOG)):
        path = resolve(name)
        out.append(Finding(f"model {name}", "ok" if isinstance(path, Path) and path.is_file() else "fail",
                           f"a model file the settings name: {path}", "" if isinstance(path, Path) and
                           path.is_file() else "point embeddedModel at an existing .gguf file or a catalogue name"))
    return out


def check_model_server(settings: Settings) -> Finding:
    from srag_lsp.models.base import BackendError
    from srag_lsp.models.ollama_backend import OllamaBackend

    if settings.backend == "embedded":
        return Finding("model server", "ok", f"backend embedded: {settings.embedded_model} in process, no server")
    if settings.backend in ("openai", "llama-server"):
        return check_team_server(settings)
    backend = OllamaBackend(host=settings.ollama_host, model=settings.ollama_model, probe_timeout=2.0)

    async def probe() -> None:
        try:
            await backend.start()
        finally:
            await backend.close()

    try:
        asyncio.run(probe())
    except BackendError as exc:
        if settings.backend == "auto" and str(exc).startswith("no Ollama"):
            return Finding("model server", "info", f"{exc}: backend auto uses the embedded model "
                                                   f"{settings.embedded_model}")
        fix = ("start Ollama (`ollama serve`), or set backend to embedded" if str(exc).startswith("no Ollama")
               else f"ollama pull {settings.ollama_model}" if "ollama pull" in str(exc) else "")
        return Finding("model server", "fail", str(exc), fix)
    except Exception as exc:  # an answer no one expected: say it rather than crash
        return Finding("model server", "fail", f"Ollama at {settings.ollama_host}: {exc}")
    return Finding("model server", "ok", f"Ollama {backend.server_version} at {settings.ollama_host} has "
                                         f"{settings.ollama_model}")


def check_team_server(settings: Settings) -> Finding:
    """backend openai or llama-server: the server answers and has the model (the same start the daemon makes)."""
    from srag_lsp.models.base import BackendError
    from srag_lsp.models.selection import select_backend

    async def probe() -> str:
        backend, notice = await select_backend(
            settings.backend, ollama_host=settings.ollama_host, ollama_model=settings.ollama_model,
            embedded_model=settings.embedded_model, model_dir=settings.model_path(), probe_timeout=2.0,
            openai_base_url=settings.openai_base_url, openai_model=settings.openai_model,
            openai_api_key_env=settings.openai_api_key_env, llama_server_url=settings.llama_server_url)
        await backend.close()
        return notice.removeprefix("srag-lsp: ")

    try:
        return Finding("model server", "ok", asyncio.run(probe()))
    except BackendError as exc:
        fix = ("start the server, or correct the address setting" if str(exc).startswith("no model server") else
               "set openaiModel to a model the server has" if "does not have the model" in str(exc) else "")
        return Finding("model server", "fail", str(exc), fix)
    except Exception as exc:  # an answer no one expected: say it rather than crash
        return Finding("model server", "fail", f"backend {settings.backend}: {exc}")


def check_index(settings: Settings, workspace: Path) -> Finding:
    from indexer.location import resolve_index_dir
    from indexer.status import index_status

    index_dir = resolve_index_dir(workspace, settings.index_dir or None)
    try:
        info = index_status(workspace, index_dir)
    except Exception as exc:
        return Finding("index", "fail", f"the index at {index_dir} cannot be read: {exc}",
                       f"srag-index build {workspace} (or delete {index_dir} and reopen the workspace)")
    if not info["exists"]:
        return Finding("index", "info", f"no index yet for {workspace} (it would be at {index_dir})",
                       f"the daemon builds it when the editor opens the workspace, or: srag-index build {workspace}")
    writer = f"writer pid {info['writer_pid']}" if info.get("writer_pid") else "no worker running"
    detail = (f"{index_dir}: {info.get('files', 0)} files, {info.get('chunks', 0)} chunks, version "
              f"{info.get('versions', '?')}, {info.get('bytes', 0) / 1e6:.1f} MB, {writer}")
    if info.get("needs_rebuild"):
        return Finding("index", "warn", f"{detail}; needs a rebuild: {info['needs_rebuild']}",
                       f"srag-index build {workspace} (the daemon also rebuilds it at start)")
    return Finding("index", "ok", detail)


def check_editor() -> Finding:
    """The server command the Neovim plugin and the VS Code extension would start (their own search order)."""
    venv = CLONE / ".venv" / "bin" / "srag-lsp"
    on_path = shutil.which("srag-lsp")
    if (CLONE / "editors").is_dir():
        if os.access(venv, os.X_OK):
            return Finding("editor", "ok", f"the plugins in {CLONE / 'editors'} start {venv} --stdio")
        if on_path:
            return Finding("editor", "ok", f"no {venv}; the plugins start srag-lsp on PATH: {on_path}")
        return Finding("editor", "fail", f"no {venv} and no srag-lsp on PATH: the plugins find no server",
                       f"run {SETUP_HINT}")
    if on_path:
        return Finding("editor", "ok", f"the plugins start srag-lsp on PATH: {on_path}")
    return Finding("editor", "warn", f"srag-lsp is not on PATH (this one is {Path(sys.argv[0]).resolve()})",
                   "put its folder on PATH, or give the plugin its path (srag.serverPath in VS Code, "
                   "setup({cmd = {...}}) in Neovim)")


def check_traces(settings: Settings) -> Finding:
    folder = settings.cache_path() / "traces"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doctor-", delete=True) as fh:
            fh.write(b"ok")
            fh.flush()
    except OSError as exc:
        return Finding("traces", "fail", f"cannot write request traces in {folder}: {exc.strerror or exc}",
                       "make that folder writable, or set SRAG_CACHE_DIR to a folder you own")
    mode = folder.stat().st_mode & 0o777
    if mode & 0o077:
        return Finding("traces", "warn", f"{folder} is writable, permissions {mode:o}: others can read your traces",
                       f"chmod 700 {folder}")
    return Finding("traces", "ok", f"{folder} is writable (permissions {mode:o})")


def _guarded(name: str, check: Callable[[], Finding | list[Finding]]) -> list[Finding]:
    try:
        found = check()
    except Exception as exc:  # a check that breaks is itself a finding
        return [Finding(name, "fail", f"the check failed: {type(exc).__name__}: {exc}")]
    return found if isinstance(found, list) else [found]


def run_checks(settings: Settings, workspace: Path) -> list[Finding]:
    checks: list[tuple[str, Callable[[], Finding | list[Finding]]]] = [
        ("python", check_python),
        ("llama.cpp", check_llama),
        ("models", lambda: check_models(settings)),
        ("model server", lambda: check_model_server(settings)),
        ("index", lambda: check_index(settings, workspace)),
        ("editor", check_editor),
        ("traces", lambda: check_traces(settings)),
    ]
    return [finding for name, check in checks for finding in _guarded(name, check)]


def report(findings: list[Finding], as_json: bool) -> str:
    if as_json:
        return json.dumps({"version": __version__, "ok": all(f.status != "fail" for f in findings),
                           "checks": [asdict(f) for f in findings]}, indent=2)
    lines = [f"srag-lsp doctor ({__version__})"]
    for f in findings:
        lines.append(f"  {f.status.upper() if f.status == 'fail' else f.status:<5} {f.name:<26} {f.detail}")
        if f.fix and f.status != "ok":
            lines.append(f"  {'':<5} {'':<26} fix: {f.fix}")
    failed = sum(f.status == "fail" for f in findings)
    lines.append("all checks passed" if not failed else f"{failed} check(s) failed")
    return "\n".join(lines)

