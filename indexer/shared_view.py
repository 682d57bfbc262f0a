"""What a developer's index knows of the team's shared index: its version, commit and file hashes, and the mask.

A daemon with ``sharedIndex`` keeps a small local index, the *overlay*, in its own folder
(:func:`overlay_dir`). Its worker indexes only the files whose content differs from the shared index's hash, or
that the shared index lacks; the rest are served from the shared index as they are. :class:`SharedFiles` reads the
shared ``builds`` and ``files`` tables (a few small requests), keeps the last answer on disk (so that a restart
without the storage still knows which files are the team's), and says when a newer version was published.

The *mask* (:data:`MASK_FILE`, written by the worker, read by :mod:`indexer.layered_query`) lists the shared
paths whose shared rows must not be used: files changed, deleted or being edited locally (the local rows win).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from indexer.atomic_file import write_atomically
from indexer.object_store import ObjectStoreError, explain, reader_options, scrub

log = logging.getLogger(__name__)

CACHE_FILE = "shared_files.msgpack"
MASK_FILE = "shared_mask.json"


def overlay_dir(index_dir: str | Path, uri: str) -> str:
    """The local overlay's folder for the shared index at ``uri`` (beside the workspace's own index, never in it:
    switching the setting off finds the full local index as it was)."""
    tag = hashlib.sha1(uri.encode()).hexdigest()[:10]
    return f"{index_dir}-shared-{tag}"


@dataclass(slots=True)
class SharedState:
    """The last thing read from the shared index (``version`` 0: nothing yet)."""

    uri: str
    version: int = 0
    commit: str = ""
    built_at: str = ""
    hashes: dict[str, str] = field(default_factory=dict)  # path -> content hash
    reachable: bool | None = None  # None: not tried yet
    error: str | None = None
    read_at: float = 0.0

    def summary(self) -> dict[str, Any]:
        return {"uri": self.uri, "version": self.version, "commit": self.commit, "built_at": self.built_at,
                "files": len(self.hashes), "reachable": self.reachable, "error": self.error}


class SharedFiles:
    """The shared index's version and file hashes, re-read on :meth:`refresh`; never raises on a storage fault."""

    def __init__(self, uri: str, options: Mapping[str, str], folder: str | Path) -> None:
        self.uri = uri
        self.options = reader_options(options)
        self.folder = Path(folder)
        self.state = SharedState(uri)
        self._db: Any = None
        self._load_cache()

    def hash_of(self, path: str) -> str | None:
        return self.state.hashes.get(path)

    def refresh(self) -> bool:
        """Read the newest published version; True when it differs from what was known (the overlay must be
        reconciled). A storage fault keeps what was known and is recorded in ``state.error``."""
        from indexer.shared_index import check_schema, connect, latest_build, shared_files

        try:
            if self._db is None:
                self._db = connect(self.uri, self.options)
            build = latest_build(self._db)
            if build is None:
                raise ObjectStoreError(f"nothing was published at {self.uri} yet: srag-index build DIR --index-uri "
                                       f"{self.uri}")
            check_schema(self.uri, build)
            version = int(build["chunks_version"])
            if version == self.state.version and self.state.reachable:
                self.state.read_at = time.time()
                return False
            hashes = shared_files(self._db)
        except ObjectStoreError as exc:
            self._db = None
            return self._failed(str(exc))
        except Exception as exc:
            self._db = None
            return self._failed(str(explain(self.uri, self.options, exc)))
        changed = version != self.state.version or hashes != self.state.hashes
        self.state = SharedState(self.uri, version, str(build.get("commit") or ""), str(build.get("built_at") or ""),
                                 hashes, True, None, time.time())
        if changed:
            self._save_cache()
        return changed

    def _failed(self, message: str) -> bool:
        message = scrub(message, self.options)
        if self.state.error != message:
            log.warning("shared index: %s", message)
        self.state.reachable, self.state.error = False, message
        return False

    # -- the last answer, on disk --------------------------------------------------------------------------
    def _load_cache(self) -> None:
        try:
            data = msgpack.unpackb((self.folder / CACHE_FILE).read_bytes())
        except FileNotFoundError:
            return
        except Exception as exc:
            log.info("ignoring the shared index's cached file list: %s", exc)
            return
        if isinstance(data, dict) and data.get("uri") == self.uri and isinstance(data.get("hashes"), dict):
            self.state = SharedState(self.uri, int(data.get("version") or 0), str(data.get("commit") or ""),
                                     str(data.get("built_at") or ""), dict(data["hashes"]), None, None, 0.0)

    def _save_cache(self) -> None:
        s = self.state
        payload = msgpack.packb({"uri": s.uri, "version": s.version, "commit": s.commit, "built_at": s.built_at,
                                 "hashes": s.hashes})
        write_atomically(self.folder / CACHE_FILE, payload)


def masked_paths(shared: Mapping[str, str], local_hashes: Mapping[str, str], overlays: Collection[str]) -> list[str]:
    """Shared paths whose shared rows must not be used: the local file differs (or is gone, or unreadable) or an
    unsaved buffer is open on it. ``local_hashes``: every workspace file's content hash (the manifest's)."""
    masked = {p for p, h in shared.items() if local_hashes.get(p) != h}
    masked.update(p for p in overlays if p in shared)
    return sorted(masked)


def write_mask(folder: str | Path, version: int, masked: list[str]) -> None:
    payload = json.dumps({"version": version, "masked": masked}).encode()
    write_atomically(Path(folder) / MASK_FILE, payload)


def read_mask(folder: str | Path) -> tuple[int, frozenset[str]] | None:
    """(shared version, masked paths) as the worker last wrote them; None before its first mask."""
    try:
        data = json.loads((Path(folder) / MASK_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.info("cannot read the shared index mask: %s", exc)
        return None
    return int(data.get("version") or 0), frozenset(data.get("masked") or ())
