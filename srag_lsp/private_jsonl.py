"""A private JSON-lines file: records appended one per line, the file 0600 in a 0700 folder, rotated by size.

Traces (``trace.py``) and acceptance events (``acceptance.py``) are both kept this way, so they rotate alike.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def make_private(path: Path, mode: int) -> None:
    """Give an existing folder or file the private ``mode`` (one from an older version may be 0644)."""
    try:
        if path.exists() and (path.stat().st_mode & 0o777) != mode:
            os.chmod(path, mode)
    except OSError as exc:  # not ours: leave it, and say so
        log.warning("cannot make %s private: %s", path, exc)


class PrivateJsonl:
    """Appends to ``path``; past ``max_bytes`` it becomes ``path.1`` (older ones shift up to ``path.<keep>``)."""

    def __init__(self, path: Path, *, max_bytes: int, keep: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep

    def prepare(self) -> None:
        """Create the folder (private) and make an existing folder and file private; raises OSError."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        make_private(self.path.parent, 0o700)
        make_private(self.path, 0o600)

    def append(self, record: dict[str, Any]) -> None:
        """Write one record; a failure is logged and the record lost (never raised)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._rotate_if_needed()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, separators=(",", ":")) + "\n")
        except OSError as exc:
            log.warning("cannot write to %s: %s", self.path, exc)

    def _rotate_if_needed(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size < self.max_bytes:
            return
        name = self.path.name
        for i in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{name}.1"))
