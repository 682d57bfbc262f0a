"""Which weights file the embedded model runs from: the shipped one, or its BF16 copy where the CPU computes BF16.

The shipped Qwen2.5-Coder file is Q4_K_M, and most of its weights are Q5_0 (the model's 896-wide rows do not fit
k-quants), which llama.cpp multiplies with its generic quantized dot products. On a CPU with AVX512-BF16, in a
llama.cpp built for it, the same weights expanded to BF16 evaluate a prompt 1.4x faster (108 tokens in batches of
32: about 400 ms against 560 ms on 2 cores) and generate 1.6x slower (about 32 ms a token against 20: each token
reads 2.5x the bytes). At a new place the prompt is what the user waits for, so there the BF16 copy is the default
(``embeddedWeights`` ``auto``; README, "Beside llama.vim"). It changes nothing the model computes beyond rounding:
perplexity 4.9691 against 4.9692 on 10,220 tokens of the standard library's code, the same top-1 token at 98.75 %
of them (re-quantizing to Q8_0 agreed at 98.7 %).

The copy is made once, by llama.cpp's own converter (``llama_model_quantize`` to BF16), into a temporary file beside
the shipped one, then renamed into place; a marker ties it to the shipped file's size and mtime and the converter's
version, so a changed source or llama.cpp makes a new copy. A failed conversion leaves the shipped file in use.
"""

from __future__ import annotations

import ctypes
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from srag_lsp.models.llama_abi import library_flags

log = logging.getLogger(__name__)

LLAMA_FTYPE_MOSTLY_BF16 = 32  # llama.h's enum llama_ftype
_convert_lock = threading.Lock()  # two slots starting at once make one copy

Converter = Callable[[Path, Path], None]


class ConversionFailed(RuntimeError):
    """llama.cpp could not write the BF16 copy."""


def native_bf16() -> bool:
    """True when the llama.cpp in this process computes BF16 with the CPU's own instructions (AVX512-BF16)."""
    try:
        return "AVX512_BF16" in library_flags()
    except Exception as exc:  # no llama-cpp-python, or a build without the call: the shipped file is always right
        log.debug("cannot read llama.cpp's system info: %s", exc)
        return False


def llama_convert(source: Path, target: Path) -> None:
    """Write ``source`` with every weight in BF16 to ``target`` (llama.cpp's converter, every core)."""
    import llama_cpp

    from srag_lsp.models.llama_slots import cpu_count, install_log_callback

    install_log_callback()  # its progress lines go to the log, never to stdout (LSP over stdio)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = LLAMA_FTYPE_MOSTLY_BF16
    params.allow_requantize = True
    params.nthread = cpu_count()
    status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
    if status != 0:
        raise ConversionFailed(f"llama.cpp's converter returned {status}")


def copy_path(source: Path) -> Path:
    """Where the BF16 copy of ``source`` lives: beside it."""
    return source.with_name(f"{source.stem}-bf16.gguf")


def _marker_text(source: Path) -> str:
    st = source.stat()
    try:
        import llama_cpp

        version = getattr(llama_cpp, "__version__", "?")
    except ImportError:
        version = "?"
    return f"{st.st_size} {st.st_mtime_ns} llama-cpp-python {version}\n"


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".made")


def made_copy(source: Path) -> Path | None:
    """The BF16 copy of ``source`` when it is there and made from it as it is now, else None (``srag-lsp doctor``)."""
    target = copy_path(source)
    try:
        return target if target.is_file() and _marker(target).read_text() == _marker_text(source) else None
    except OSError:
        return None


def bf16_copy(source: Path, convert: Converter = llama_convert) -> Path:
    """The BF16 copy of ``source``, made now if it is missing or stale (blocking: seconds, once)."""
    target = copy_path(source)
    marker = _marker(target)
    with _convert_lock:
        want = _marker_text(source)
        if made_copy(source) is not None:
            return target
        log.info("writing a BF16 copy of %s for this CPU (once) to %s", source.name, target)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            convert(source, tmp)
            if not tmp.is_file() or tmp.stat().st_size == 0:
                raise ConversionFailed("the converter wrote nothing")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        marker.write_text(want)
        return target


def weights_for(source: Path, choice: str, *, native: Callable[[], bool] = native_bf16,
                convert: Converter = llama_convert) -> tuple[Path, str]:
    """(the file to load, a warning or "") for the shipped ``source`` and the ``embeddedWeights`` ``choice``.

    ``auto``: the BF16 copy where llama.cpp computes BF16 natively, else ``source``; ``shipped``: ``source``. A copy
    that cannot be made is no failure: the shipped file is used, and the warning says why.
    """
    if choice != "auto" or not native():
        return source, ""
    try:
        return bf16_copy(source, convert), ""
    except Exception as exc:  # a disk, a folder or a converter that fails: the shipped file still works
        return source, (f"srag-lsp: cannot write a BF16 copy of {source.name} beside it ({exc}); using the shipped "
                        "file, whose prompts evaluate about 1.4x slower on this CPU")
