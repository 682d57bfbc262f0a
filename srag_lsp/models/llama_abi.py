"""Whether llama-cpp-python's bindings read the loaded llama.cpp library's structures right, and which library it is.

The bindings describe llama.cpp's C structures by hand. Over a library from another llama.cpp version (the prebuilt
one scripts/setup.sh installs on CPUs without AVX-512), one inserted field moves every field after it, and nothing
fails: calls just pass wrong values. llama.cpp's context defaults are known and stable, so reading them through the
bindings shows a shifted layout at once. `srag-lsp doctor` reports it, and the tests check it for whichever library
is installed.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

# llama_context_default_params() in llama.cpp (src/llama-context.cpp), fields at the start, middle and end.
CONTEXT_DEFAULTS: dict[str, Any] = {
    "n_ctx": 512,
    "n_batch": 2048,
    "n_ubatch": 512,
    "n_seq_max": 1,
    "type_k": 1,  # GGML_TYPE_F16
    "type_v": 1,
    "embeddings": False,
    "offload_kqv": True,
    "no_perf": True,
    "op_offload": True,
    "swa_full": True,
    "kv_unified": False,
}
PREBUILT_MARKER = "_srag_prebuilt.json"
# The llama.cpp flags a build may use, and the /proc/cpuinfo flag each needs.
CPU_FLAGS = {"AVX": "avx", "AVX2": "avx2", "FMA": "fma", "F16C": "f16c", "BMI2": "bmi2", "AVX512": "avx512f",
             "AVX512_VBMI": "avx512_vbmi", "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16",
             "AMX_INT8": "amx_int8"}


def built_flags(system_info: str) -> set[str]:
    """The CPU features a llama.cpp build uses, from its system info ("... AVX2 = 1 | FMA = 1 | ...")."""
    used = set()
    for part in system_info.replace("|", "\n").splitlines():
        name, _, value = part.partition("=")
        name = name.split(":")[-1].strip()
        if value.strip() == "1" and name in CPU_FLAGS:
            used.add(name)
    return used


def library_flags() -> set[str]:
    """The CPU features the llama.cpp library in this process was built for (its ``built_flags``)."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info()
    return built_flags(info.decode(errors="replace") if isinstance(info, bytes) else str(info))


def layout_problem() -> str | None:
    """None when the context defaults read as llama.cpp writes them; otherwise which fields read wrong."""
    import llama_cpp

    params = llama_cpp.llama_context_default_params()
    wrong = [f"{name}={getattr(params, name)!r} (expected {want!r})"
             for name, want in CONTEXT_DEFAULTS.items() if getattr(params, name) != want]
    if not wrong:
        return None
    return "the bindings read the library's context parameters wrong: " + ", ".join(wrong)


def prebuilt_library() -> str | None:
    """The prebuilt library's wheel that scripts/setup.sh put under the bindings, or None for a source build."""
    try:
        marker = resources.files("llama_cpp").joinpath(PREBUILT_MARKER)
        return str(json.loads(marker.read_text())["library"]) if marker.is_file() else None
    except (ModuleNotFoundError, OSError, ValueError, KeyError):
        return None


def main() -> int:
    """`python -m srag_lsp.models.llama_abi`: scripts/setup.sh's check after installing llama-cpp-python."""
    import sys

    try:
        problem = layout_problem()
    except (OSError, RuntimeError) as exc:  # the library does not load (a system library it links is missing)
        hint = " (Debian/Ubuntu: sudo apt-get install libgomp1)" if "libgomp" in str(exc) else ""
        print(f"llama.cpp's library does not load: {exc}{hint}", file=sys.stderr)
        return 1
    if problem:
        print(f"{problem}; build it from source: SRAG_LLAMA=source scripts/setup.sh", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
