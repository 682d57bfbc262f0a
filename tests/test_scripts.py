"""The set-up scripts' own promises: a machine without a compiler gets one message naming what to install, the CPU
flags never include a native (AMX) build, llama.cpp's source (built or prebuilt) is chosen by the CPU or SRAG_LLAMA,
the prebuilt library's edits to the bindings apply to the pinned version, or stop the assembly, and the lean build
compiles llama.cpp's bookkeeping library at -O1 and its arithmetic (ggml) at -O3."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

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


def _choose(env: dict[str, str], path: str | None = None) -> subprocess.CompletedProcess[str]:
    script = f". {LIB}; " + (f"PATH={path}; " if path is not None else "") + "llama_choose_source && echo $llama_source"
    return subprocess.run(["/bin/bash", "-c", script], capture_output=True, text=True,
                          env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), **env})


def test_the_llama_source_is_chosen_by_the_cpu_or_by_srag_llama(tmp_path: Path) -> None:
    assert _choose({"SRAG_LLAMA": "prebuilt"}).stdout.strip() == "prebuilt"
    assert _choose({"SRAG_LLAMA": "source"}).stdout.strip() == "source"
    wrong = _choose({"SRAG_LLAMA": "fast"})
    assert wrong.returncode == 1 and "'source' or 'prebuilt'" in wrong.stderr
    has_avx512 = "avx512f" in Path("/proc/cpuinfo").read_text()
    has_toolchain = all(shutil.which(tool) for tool in ("cc", "c++", "cmake"))
    assert _choose({}).stdout.strip() == ("source" if has_avx512 and has_toolchain else "prebuilt")
    # No compiler (a PATH with grep alone): the prebuilt library, with a note where AVX-512 is left unused.
    (tmp_path / "grep").symlink_to(shutil.which("grep") or "/bin/grep")
    bare = _choose({}, path=str(tmp_path))
    assert bare.stdout.strip() == "prebuilt"
    assert ("SRAG_LLAMA=source" in bare.stderr) == has_avx512


def _prebuilt_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("llama_prebuilt", REPO / "scripts" / "lib" / "llama_prebuilt.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _sdist() -> Path:
    done = subprocess.run(["/bin/bash", "-c", f". {LIB}; llama_sdist_file"], capture_output=True, text=True,
                          check=True)
    return Path(done.stdout.strip())


def test_the_prebuilt_edits_apply_to_the_pinned_bindings(tmp_path: Path) -> None:
    sdist = _sdist()
    if not sdist.is_file():
        pytest.skip(f"set-up downloads {sdist.name}; it is not in this cache")
    prebuilt = _prebuilt_module()
    package, _ = prebuilt._extract_package(sdist, tmp_path)
    prebuilt.apply_edits(package)
    bindings = (package / "llama_cpp.py").read_text()
    layout = bindings[bindings.index("class llama_context_params"):]
    assert layout.index('("type_v", ctypes.c_int)') < layout.index('("moe_cache_size", ctypes.c_size_t)') \
        < layout.index('("abort_callback"')
    # A function the library does not export raises a clear error when called, and the import still works.
    spec = importlib.util.spec_from_file_location("patched_ext", package / "_ctypes_extensions.py")
    assert spec and spec.loader
    ext = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ext)
    decorate = ext.ctypes_function_for_shared_library(ctypes.CDLL(None))
    missing = decorate("srag_no_such_function", [], ctypes.c_int)(lambda: None)
    with pytest.raises(NotImplementedError, match=r"srag_no_such_function.*SRAG_LLAMA=source"):
        missing()
    assert decorate("abs", [ctypes.c_int], ctypes.c_int)(lambda x: None)(-3) == 3  # exported: the C function


def test_an_edit_that_does_not_apply_stops_the_assembly(tmp_path: Path) -> None:
    prebuilt = _prebuilt_module()
    for name in ("llama_cpp.py", "_ctypes_extensions.py"):
        (tmp_path / name).write_text("# another version of the bindings\n")
    with pytest.raises(prebuilt.AssemblyError, match=r"llama_cpp\.py: expected this text once, found it 0 times"):
        prebuilt.apply_edits(tmp_path)


def test_the_lean_build_compiles_the_llama_library_at_o1_and_ggml_at_o3(tmp_path: Path) -> None:
    """A real CMake configure of the pinned sdist with the set-up's include file (no compiling): the flags CMake
    writes for each library say which optimisation level its objects get (the last -O wins)."""
    sdist = _sdist()
    if not sdist.is_file():
        pytest.skip(f"set-up downloads {sdist.name}; it is not in this cache")
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("no CMake or C++ compiler here (the prebuilt path needs neither)")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path, filter="data")
    source = next(tmp_path.glob("llama_cpp_python-*"))
    build = tmp_path / "build"
    lean = subprocess.run(["/bin/bash", "-c", f". {LIB}; llama_lean_args"], capture_output=True, text=True,
                          check=True).stdout.split()
    done = subprocess.run(
        ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=OFF", *lean],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def last_level(target: str) -> str:
        flags = next(build.glob(f"vendor/llama.cpp/**/CMakeFiles/{target}.dir/flags.make")).read_text()
        line = next(line for line in flags.splitlines() if line.startswith("CXX_FLAGS"))
        return [word for word in line.split() if word.startswith("-O")][-1]

    assert last_level("llama") == "-O1"
    assert last_level("ggml-cpu") == "-O3"
    assert last_level("ggml-base") == "-O3"
    assert not list(build.glob("vendor/llama.cpp/**/CMakeFiles/common.dir"))  # no `common` library
