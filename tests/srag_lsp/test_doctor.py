"""`srag-lsp doctor`: its JSON report, and each check failing the way a user meets it (a missing or damaged model,
an unreachable model server, an unwritable cache folder, a llama.cpp build this CPU cannot run)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from srag_lsp import doctor
from srag_lsp.models.catalog import CATALOG
from srag_lsp.settings import Settings

SERVER = Path(sys.executable).with_name("srag-lsp")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket is: nothing listens there


def test_json_report_names_every_check_with_a_status(tmp_path: Path) -> None:
    env = {**os.environ, "SRAG_CACHE_DIR": str(tmp_path / "cache"), "SRAG_BACKEND": "embedded"}
    done = subprocess.run([str(SERVER), "doctor", "--json", "--workspace", str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)
    report = json.loads(done.stdout)
    names = [c["name"] for c in report["checks"]]
    for name in ("python", "llama.cpp", "model qwen2.5-coder-0.5b", "model server", "index", "editor", "traces"):
        assert name in names, names
    assert all(c["status"] in doctor.STATUSES for c in report["checks"])
    assert all(c["fix"] for c in report["checks"] if c["status"] == "fail")
    assert done.returncode == (0 if report["ok"] else 1)
    index = next(c for c in report["checks"] if c["name"] == "index")
    assert index["status"] == "info" and "srag-index build" in index["fix"]  # a workspace never indexed


def test_human_report_says_the_fix_of_what_failed(tmp_path: Path) -> None:
    env = {**os.environ, "SRAG_CACHE_DIR": str(tmp_path / "cache"), "SRAG_BACKEND": "ollama",
           "OLLAMA_HOST": f"http://127.0.0.1:{closed_port()}"}
    done = subprocess.run([str(SERVER), "doctor", "--workspace", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1
    assert "FAIL  model server" in done.stdout
    assert "fix: start Ollama" in done.stdout


def test_a_missing_model_fails_and_names_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from srag_lsp.models import catalog

    def no_packages(model: catalog.CatalogModel) -> list[Path]:
        raise catalog.ModelUnavailable(f"{model.name} needs its packages")

    monkeypatch.setattr(catalog, "part_paths", no_packages)  # fault injection: the packages are not installed
    settings = Settings(model_dir=str(tmp_path / "models"))
    found = {f.name: f for f in doctor.check_models(settings)}
    missing = found["model qwen2.5-coder-0.5b"]
    assert missing.status == "fail"
    assert "srag-lsp[embedded]" in missing.fix and "srag-lsp models qwen2.5-coder-0.5b" in missing.fix
    assert found["model gemma3-270m"].status == "info"  # not configured: optional


def test_a_named_model_file_that_is_not_there_fails(tmp_path: Path) -> None:
    settings = Settings(model_dir=str(tmp_path), embedded_model=str(tmp_path / "missing.gguf"))
    (finding,) = [f for f in doctor.check_models(settings) if f.name.endswith("missing.gguf")]
    assert finding.status == "fail" and finding.fix


def test_a_damaged_model_fails_and_says_to_assemble_it_again(tmp_path: Path) -> None:
    entry = CATALOG["qwen2.5-coder-0.5b"]
    (tmp_path / entry.file_name).write_bytes(b"GGUF but cut short")
    finding = next(f for f in doctor.check_models(Settings(model_dir=str(tmp_path)))
                   if f.name == "model qwen2.5-coder-0.5b")
    assert finding.status == "fail"
    assert "damaged" in finding.detail and "srag-lsp models qwen2.5-coder-0.5b" in finding.fix


def test_an_unreachable_model_server_fails_when_it_is_the_backend() -> None:
    host = f"http://127.0.0.1:{closed_port()}"
    finding = doctor.check_model_server(Settings(backend="ollama", ollama_host=host))
    assert finding.status == "fail"
    assert host in finding.detail and "ollama serve" in finding.fix
    auto = doctor.check_model_server(Settings(backend="auto", ollama_host=host))
    assert auto.status == "info" and "embedded" in auto.detail  # auto falls back, as the daemon does


def test_a_team_model_server_is_checked_the_way_the_daemon_starts_it() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    for backend in ("openai", "llama-server"):
        finding = doctor.check_model_server(Settings(backend=backend, openai_base_url=f"{url}/v1", openai_model="m",
                                                     llama_server_url=url))
        assert finding.status == "fail" and url in finding.detail and "start the server" in finding.fix
    unset = doctor.check_model_server(Settings(backend="openai"))
    assert unset.status == "fail" and "openaiBaseUrl" in unset.detail


@pytest.mark.model
def test_a_team_model_server_that_lacks_the_model_names_those_it_has() -> None:
    from tests.support.openai_server import serve_openai

    with serve_openai(["qwen2.5-coder-0.5b"]) as (url, _):
        missing = doctor.check_model_server(Settings(backend="openai", openai_base_url=f"{url}/v1",
                                                     openai_model="qwen2.5-coder-32b"))
        assert missing.status == "fail" and "it has: qwen2.5-coder-0.5b" in missing.detail
        assert "openaiModel" in missing.fix
        ok = doctor.check_model_server(Settings(backend="llama-server", llama_server_url=url))
        assert ok.status == "ok" and url in ok.detail


def test_an_unwritable_cache_folder_fails(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    finding = doctor.check_traces(Settings(cache_dir=str(blocker / "cache")))
    assert finding.status == "fail"
    assert "SRAG_CACHE_DIR" in finding.fix


def test_a_build_for_flags_this_cpu_lacks_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "cpu_flags", lambda: {"sse3", "sse4_2"})  # fault injection: an older CPU
    finding = doctor.check_llama()
    assert finding.status == "fail"
    assert "AVX2" in finding.detail and "scripts/setup.sh" in finding.fix


def test_a_check_that_breaks_is_reported_not_raised() -> None:
    def broken() -> doctor.Finding:
        raise RuntimeError("boom")

    (finding,) = doctor._guarded("index", broken)
    assert finding.status == "fail" and "boom" in finding.detail


def test_the_model_line_says_which_weights_the_daemon_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where llama.cpp computes BF16 natively the doctor names the BF16 copy (or says when it is made); with
    ``embeddedWeights: shipped``, or on a CPU without it, nothing is added. (The CPU's answer is patched, so both
    sides run on any machine.)"""
    from srag_lsp.models import bf16_weights

    shipped = tmp_path / "m.gguf"
    shipped.write_bytes(b"GGUF")
    monkeypatch.setattr(bf16_weights, "native_bf16", lambda: True)
    assert "is made at first use" in doctor._weights_note(Settings(), shipped)
    bf16_weights.bf16_copy(shipped, lambda src, target: target.write_bytes(b"BF16"))
    assert doctor._weights_note(Settings(), shipped) == "; runs from its BF16 copy m-bf16.gguf (embeddedWeights auto)"
    assert doctor._weights_note(Settings(embedded_weights="shipped"), shipped) == ""
    monkeypatch.setattr(bf16_weights, "native_bf16", lambda: False)
    assert doctor._weights_note(Settings(), shipped) == ""
