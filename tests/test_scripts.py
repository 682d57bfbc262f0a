"""The set-up scripts' own promises: a machine without a compiler gets one message naming what to install, and the
CPU flags never include a native (AMX) build."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LIB = REPO / "scripts" / "lib" / "llama_build.sh"


def test_no_compiler_gets_one_message_naming_the_packages(tmp_path: Path) -> None:
    # An empty PATH (bash is called by its full path): no cc, c++ or cmake to be found.
    done = subprocess.run(["/bin/bash", "-c", f". {LIB}; PATH={tmp_path}; llama_require_toolchain"],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "missing: gcc g++ cmake" in done.stderr
    assert "apt-get install build-essential cmake" in done.stderr


def test_cpu_flags_are_explicit_never_native() -> None:
    done = subprocess.run(["/bin/bash", "-c", f". {LIB}; llama_cpu_flags; echo \"$key\"; echo \"$flags\""],
                          capture_output=True, text=True, check=True)
    key, flags = done.stdout.strip().split("\n")
    assert "-DGGML_NATIVE=OFF" in flags and "-DGGML_AVX2=ON" in flags
    assert key.startswith(("avx2", "avx512"))
    has_avx512 = "avx512f" in Path("/proc/cpuinfo").read_text()
    assert ("-DGGML_AVX512=ON" in flags) == has_avx512
