"""Assemble llama-cpp-python as a wheel without compiling: its own Python bindings over a prebuilt llama.cpp library.

PyPI has no llama-cpp-python wheel for Linux, only its source, whose build compiles llama.cpp (2 to 4 minutes on 2
cores). xllamacpp ships llama.cpp prebuilt (manylinux, AVX2) as one library that exports llama.cpp's C API. Its
llama.cpp (build 11549) is a little newer than the one llama-cpp-python 0.3.36 vendors, and the two `llama.h` differ
in one thing the bindings read: `llama_context_params` gained `size_t moe_cache_size` after `type_v`. So this:

- takes the `llama_cpp` package from llama-cpp-python's sdist;
- adds that field to the bindings' `llama_context_params`, so every field after it is read where the library writes it;
- lets a function the library does not export (three: model quantization and the maximum of parallel sequences, which
  srag-lsp never calls) raise a clear error when called, instead of failing the import;
- puts xllamacpp's library in as `llama_cpp/lib/libllama.so`, where the bindings look for it;
- packs it with `wheel pack` as llama_cpp_python 0.3.36, so pip sees the version pyproject.toml pins.

Each edit must apply exactly once, or the assembly stops with the file and the text it did not find. At run time
`srag_lsp.models.llama_abi` checks that the library's context defaults read right through the bindings.

Usage: python llama_prebuilt.py SDIST XLLAMACPP_WHEEL OUT_DIR   (prints the wheel's path)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

LIBRARY_IN_WHEEL = "xllamacpp/xllamacpp.abi3.so"
# Read by srag_lsp.models.llama_abi (PREBUILT_MARKER); not imported from there: this runs before srag-lsp installs.
MARKER = "_srag_prebuilt.json"

# (file in llama_cpp/, text that must occur exactly once, its replacement)
EDITS: list[tuple[str, str, str]] = [
    ("llama_cpp.py",
     '        ("type_v", ctypes.c_int),\n',
     '        ("type_v", ctypes.c_int),\n'
     '        ("moe_cache_size", ctypes.c_size_t),  # srag-lsp: the prebuilt library\'s llama.h has it\n'),
    ("_ctypes_extensions.py",
     "                func = getattr(lib, name)\n",
     "                try:\n"
     "                    func = getattr(lib, name)\n"
     "                except AttributeError:  # srag-lsp: not exported by the prebuilt library\n"
     "                    return _not_in_library(name)  # type: ignore[return-value]\n"),
    ("_ctypes_extensions.py",
     "def ctypes_function_for_shared_library(lib: ctypes.CDLL):\n",
     "def _not_in_library(name: str):\n"
     "    def missing(*args, **kwargs):\n"
     "        raise NotImplementedError(\n"
     "            f\"{name} is not exported by the prebuilt llama.cpp library that srag-lsp installed; \"\n"
     "            \"build llama-cpp-python from source for it (SRAG_LLAMA=source scripts/setup.sh)\"\n"
     "        )\n"
     "\n"
     "    missing.__name__ = name\n"
     "    return missing\n"
     "\n"
     "\n"
     "def ctypes_function_for_shared_library(lib: ctypes.CDLL):\n"),
]


class AssemblyError(RuntimeError):
    """An edit did not apply, or an input lacks what it should hold."""


def apply_edits(package: Path) -> None:
    """Apply EDITS to the `llama_cpp` package folder, each exactly once."""
    for name, old, new in EDITS:
        path = package / name
        text = path.read_text()
        found = text.count(old)
        if found != 1:
            raise AssemblyError(f"{path}: expected this text once, found it {found} times: {old.strip()!r}")
        path.write_text(text.replace(old, new))


def _extract_package(sdist: Path, into: Path) -> tuple[Path, str]:
    """The sdist's `llama_cpp` package (Python files only) under `into`, and the sdist's PKG-INFO."""
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        root = members[0].name.split("/")[0]
        wanted = [m for m in members if m.name.startswith(f"{root}/llama_cpp/") and m.isfile()]
        if not wanted:
            raise AssemblyError(f"{sdist} has no llama_cpp package")
        for member in wanted:
            target = into / member.name[len(root) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            source = tar.extractfile(member)
            assert source is not None
            target.write_bytes(source.read())
        info = tar.extractfile(f"{root}/PKG-INFO")
        if info is None:
            raise AssemblyError(f"{sdist} has no PKG-INFO")
        return into / "llama_cpp", info.read().decode()


def assemble(sdist: Path, library_wheel: Path, out_dir: Path) -> Path:
    """Build the wheel into `out_dir` and return its path."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "stage"
        package, pkg_info = _extract_package(sdist, stage)
        apply_edits(package)
        version = next(line.split(":", 1)[1].strip() for line in pkg_info.splitlines() if line.startswith("Version:"))
        lib_dir = package / "lib"
        lib_dir.mkdir(exist_ok=True)
        with zipfile.ZipFile(library_wheel) as wheel:
            if LIBRARY_IN_WHEEL not in wheel.namelist():
                raise AssemblyError(f"{library_wheel} has no {LIBRARY_IN_WHEEL}")
            with wheel.open(LIBRARY_IN_WHEEL) as src, open(lib_dir / "libllama.so", "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        (package / MARKER).write_text(json.dumps({"library": library_wheel.name, "bindings": sdist.name}) + "\n")
        info_dir = stage / f"llama_cpp_python-{version}.dist-info"
        info_dir.mkdir()
        (info_dir / "METADATA").write_text(pkg_info)
        (info_dir / "WHEEL").write_text("Wheel-Version: 1.0\nGenerator: srag-lsp llama_prebuilt\n"
                                        "Root-Is-Purelib: false\nTag: py3-none-linux_x86_64\n")
        (info_dir / "RECORD").write_text("")
        out_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "wheel", "pack", str(stage), "-d", str(out_dir)],
                       check=True, stdout=subprocess.DEVNULL)
    built = sorted(out_dir.glob(f"llama_cpp_python-{version}-*.whl"))
    if not built:
        raise AssemblyError(f"wheel pack left no wheel in {out_dir}")
    return built[-1]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    try:
        print(assemble(Path(argv[0]), Path(argv[1]), Path(argv[2])))
    except (AssemblyError, OSError, tarfile.TarError, zipfile.BadZipFile) as exc:  # a damaged or missing input
        print(f"setup: assembling the prebuilt llama-cpp-python failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
