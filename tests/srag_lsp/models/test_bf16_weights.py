"""Which weights the embedded model runs from: the BF16 copy only where llama.cpp computes BF16 natively, made once
by llama.cpp's converter, and the shipped file whenever the copy cannot be made (fault injection by converters that
fail; the conversion itself is the real one)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from srag_lsp.models import bf16_weights
from srag_lsp.models.bf16_weights import (
    ConversionFailed,
    bf16_copy,
    copy_path,
    made_copy,
    native_bf16,
    weights_for,
)
from srag_lsp.models.catalog import ensure_model
from srag_lsp.settings import Settings, apply


def _never(source: Path, target: Path) -> None:
    pytest.fail("converted where no copy was wanted")


def test_shipped_and_a_cpu_without_native_bf16_load_the_shipped_file(tmp_path: Path) -> None:
    source = tmp_path / "m.gguf"
    source.write_bytes(b"GGUF")
    assert weights_for(source, "shipped", native=lambda: True, convert=_never) == (source, "")
    assert weights_for(source, "auto", native=lambda: False, convert=_never) == (source, "")
    assert not copy_path(source).exists()


def test_a_copy_that_cannot_be_made_leaves_the_shipped_file_in_use_and_says_why(tmp_path: Path) -> None:
    source = tmp_path / "m.gguf"
    source.write_bytes(b"GGUF")

    def broken(src: Path, target: Path) -> None:
        raise ConversionFailed("llama.cpp's converter returned 1")

    path, warning = weights_for(source, "auto", native=lambda: True, convert=broken)
    assert path == source
    assert "cannot write a BF16 copy of m.gguf" in warning and "returned 1" in warning
    assert "using the shipped file" in warning
    def missing(src: Path, target: Path) -> None:
        raise AttributeError("module 'llama_cpp' has no attribute 'llama_model_quantize'")

    path, warning = weights_for(source, "auto", native=lambda: True, convert=missing)
    assert path == source and "llama_model_quantize" in warning  # a library without the converter
    path, warning = weights_for(source, "auto", native=lambda: True, convert=lambda src, target: None)
    assert path == source and "wrote nothing" in warning  # an empty result is no model
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]  # no half-written file, no marker


def test_the_copy_is_made_once_and_again_when_its_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "m.gguf"
    source.write_bytes(b"GGUF v1")
    made: list[Path] = []

    def convert(src: Path, target: Path) -> None:
        made.append(src)
        target.write_bytes(b"BF16 of " + src.read_bytes())

    assert made_copy(source) is None
    copy = bf16_copy(source, convert)
    assert copy == tmp_path / "m-bf16.gguf" and copy.read_bytes() == b"BF16 of GGUF v1"
    assert bf16_copy(source, convert) == copy and len(made) == 1
    assert made_copy(source) == copy
    source.write_bytes(b"GGUF v2, another size")
    os.utime(source, ns=(1, 1))
    assert made_copy(source) is None  # stale: made from another file
    assert bf16_copy(source, convert).read_bytes() == b"BF16 of GGUF v2, another size" and len(made) == 2


@pytest.mark.skipif(not native_bf16(), reason="this llama.cpp does not compute BF16 natively (no AVX512-BF16)")
def test_llama_cpp_writes_a_bf16_model_that_loads(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """The real converter on a real (small) catalogue model: the copy is BF16, loads, and nothing went to stdout."""
    import llama_cpp

    source = ensure_model("gemma3-270m", tmp_path)
    capfd.readouterr()
    path, warning = weights_for(source, "auto")
    assert (path, warning) == (copy_path(source), "")
    assert capfd.readouterr().out == ""  # the daemon speaks LSP on stdout
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=64, verbose=False)
    assert llm.metadata.get("general.file_type") == str(bf16_weights.LLAMA_FTYPE_MOSTLY_BF16)
    assert llm.tokenize(b"def f():")  # a usable model
    llm.close()


def test_the_setting_takes_auto_or_shipped_and_reports_anything_else() -> None:
    said: list[str] = []
    assert Settings().embedded_weights == "auto"
    assert apply(Settings(), {"embeddedWeights": "shipped"}, said.append).embedded_weights == "shipped"
    assert apply(Settings(), {"embeddedWeights": "fp8"}, said.append).embedded_weights == "auto"
    assert said == ["srag-lsp: invalid setting embeddedWeights: expected one of auto, shipped, got 'fp8'; using 'auto'"]


def test_srag_lsp_models_names_the_file_the_daemon_loads() -> None:
    """The set-up's `srag-lsp models` makes the copy (once) and prints the path of the weights the daemon will load."""
    import subprocess
    import sys

    from srag_lsp.settings import default_model_dir

    def printed(weights: str) -> str:
        done = subprocess.run([sys.executable, "-m", "srag_lsp.cli", "models", "qwen2.5-coder-0.5b"],
                              env={**os.environ, "SRAG_EMBEDDED_WEIGHTS": weights}, capture_output=True, text=True,
                              timeout=300, check=True)
        return done.stdout.split(": ", 1)[1].rsplit(" (", 1)[0]

    shipped = default_model_dir() / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    assert printed("shipped") == str(shipped)
    assert printed("auto") == str(copy_path(shipped) if native_bf16() else shipped)
