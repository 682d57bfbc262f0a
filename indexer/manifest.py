"""The index manifest: what was indexed from each file (size, mtime, content hash, chunk ids), in msgpack.

It sits next to the table (``<index dir>/manifest.msgpack``) and lets a restart skip unchanged files: size
and mtime first, the content hash when they differ. A different :data:`~indexer.model.SCHEMA_VERSION` or
language-table fingerprint, or a manifest that cannot be read, means a clean rebuild.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from indexer.atomic_file import write_atomically
from indexer.model import SCHEMA_VERSION

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.msgpack"
_FORMAT = 1  # the layout of this file itself


class ManifestError(Exception):
    """The manifest exists but cannot be read (truncated, foreign, damaged)."""


@dataclass(slots=True)
class FileRecord:
    size: int
    mtime_ns: int
    content_hash: str
    chunk_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Manifest:
    schema_version: int = SCHEMA_VERSION
    languages: str = ""  # fingerprint of the language table and grammar versions
    complete: bool = False  # a whole-workspace build has finished at least once
    files: dict[str, FileRecord] = field(default_factory=dict)

    def chunk_count(self) -> int:
        return sum(len(record.chunk_ids) for record in self.files.values())

    def paths_under(self, folder: str) -> list[str]:
        """Recorded paths inside the workspace-relative ``folder`` ("" = everything)."""
        if not folder:
            return list(self.files)
        prefix = folder.rstrip("/") + "/"
        return [path for path in self.files if path.startswith(prefix)]

    def mismatch(self, languages: str) -> str | None:
        """Why this manifest cannot be reused with the current code, or None when it can."""
        if self.schema_version != SCHEMA_VERSION:
            return f"schema version changed ({self.schema_version} -> {SCHEMA_VERSION})"
        if self.languages != languages:
            return "the language table changed"
        return None


def manifest_path(index_dir: Path) -> Path:
    return index_dir / MANIFEST_NAME


def load_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``; None when there is none; ManifestError when it is unreadable."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc}") from exc
    try:
        data = msgpack.unpackb(raw, raw=False, strict_map_key=False)
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ManifestError(f"{path} is not a manifest of format {_FORMAT}")
        files = {
            str(p): FileRecord(int(r[0]), int(r[1]), str(r[2]), [str(i) for i in r[3]])
            for p, r in data["files"].items()
        }
        return Manifest(
            schema_version=int(data["schema_version"]),
            languages=str(data["languages"]),
            complete=bool(data["complete"]),
            files=files,
        )
    except ManifestError:
        raise
    except Exception as exc:  # any decoding problem means a damaged file
        raise ManifestError(f"{path} is damaged: {exc}") from exc


def save_manifest(path: Path, manifest: Manifest) -> None:
    """Write atomically (:func:`indexer.atomic_file.write_atomically`)."""
    data = {
        "format": _FORMAT,
        "schema_version": manifest.schema_version,
        "languages": manifest.languages,
        "complete": manifest.complete,
        "files": {p: [r.size, r.mtime_ns, r.content_hash, r.chunk_ids] for p, r in manifest.files.items()},
    }
    write_atomically(path, msgpack.packb(data, use_bin_type=True))


def language_fingerprint() -> str:
    """A digest of the language table and the installed grammar versions: a change means a rebuild."""
    from importlib import metadata

    from indexer import languages

    parts: list[str] = []
    table = _language_table(languages)
    parts.append(repr(table))
    for dist in sorted(_grammar_distributions()):
        try:
            parts.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


def _language_table(module: object) -> object:
    fingerprint = getattr(module, "fingerprint", None)
    if callable(fingerprint):
        return fingerprint()
    for name in ("LANGUAGES", "LANGUAGE_TABLE", "EXTENSIONS", "LANGUAGE_BY_EXTENSION"):
        table = getattr(module, name, None)
        if table is not None:
            return _stable(table)
    return sorted(n for n in dir(module) if not n.startswith("_"))


def _stable(value: object) -> str:
    """A repr that is the same in every process (functions by name, sets sorted, no memory addresses)."""
    if isinstance(value, dict):
        return "{" + ", ".join(sorted(f"{_stable(k)}: {_stable(v)}" for k, v in value.items())) + "}"
    if isinstance(value, (set, frozenset)):
        return "{" + ", ".join(sorted(_stable(v) for v in value)) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_stable(v) for v in value) + "]"
    if hasattr(value, "__dataclass_fields__"):
        fields = ", ".join(f"{name}={_stable(getattr(value, name, None))}" for name in value.__dataclass_fields__)
        return f"{type(value).__name__}({fields})"
    if isinstance(value, (str, bytes, int, float, bool)) or value is None:
        return repr(value)
    if callable(value):
        return f"<{getattr(value, '__module__', '')}.{getattr(value, '__qualname__', type(value).__name__)}>"
    pattern = getattr(value, "pattern", None)
    if pattern is not None:
        return f"re({pattern!r})"
    return type(value).__name__


def _grammar_distributions() -> list[str]:
    from importlib import metadata

    names = {"tree-sitter"}
    for dist in metadata.distributions():
        name = (dist.metadata.get("Name") or "").lower()
        if name.startswith("tree-sitter-") or name.startswith("tree_sitter_"):
            names.add(name)
    return sorted(names)
