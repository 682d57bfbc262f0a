"""The workspace's source files, and import resolution against them.

``WorkspaceModules.resolve(language, importer, binding)`` fills in the workspace-relative paths a binding
names, with the language spec's resolver (``indexer.languages.<language>``: Python's dotted modules and
packages, JavaScript's relative specifiers, Go's package folders, Rust's ``crate::`` paths, Java's class
files, C/C++ quoted includes). This module only keeps the file list they resolve against: scanned once (off
the event loop), kept up to date by ``refresh(changed_paths)``, with memos the resolvers derive from it.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from indexer.languages import EXTENSIONS, LANGUAGES
from srag_lsp.retrieval.imports import ImportBinding

log = logging.getLogger(__name__)

SOURCE_SUFFIXES = frozenset(EXTENSIONS)
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "target", "dist", "build"})
MAX_FILES = 200_000


class WorkspaceModules:
    """The workspace's source files, and import resolution against them. Scans lazily, off the loop."""

    def __init__(self, root: str | Path, max_files: int = MAX_FILES) -> None:
        self.root = Path(root)
        self._max_files = max_files
        self._lock = threading.Lock()
        self._paths: set[str] | None = None
        self._derived: dict[str, object] = {}
        # When the workspace folder is itself a Python package, absolute imports start with its name.
        self.package_prefix = self.root.name if (self.root / "__init__.py").is_file() else ""

    # -- the file set --

    def _scan(self) -> set[str]:
        found: set[str] = set()
        root = str(self.root)
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [
                d
                for d in dirnames
                if not d.startswith(".")
                and d not in _SKIP_DIRS
                and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
            ]
            rel_dir = os.path.relpath(dirpath, root)
            for name in filenames:
                if os.path.splitext(name)[1] in SOURCE_SUFFIXES or name.endswith(".d.ts"):
                    rel = name if rel_dir == "." else f"{rel_dir}/{name}".replace(os.sep, "/")
                    found.add(rel)
                    if len(found) >= self._max_files:
                        log.warning(
                            "workspace has more than %d source files; import resolution sees the first", self._max_files
                        )
                        return found
        return found

    def paths(self) -> set[str]:
        with self._lock:
            if self._paths is None:
                self._paths = self._scan()
                self._derived = {}
            return self._paths

    def refresh(self, changed: Iterable[str] | None = None) -> None:
        """Note files that appeared or vanished (all of them when None: rescan on next use)."""
        with self._lock:
            if changed is None or self._paths is None:
                self._paths = None
                return
            for rel in changed:
                if os.path.splitext(rel)[1] not in SOURCE_SUFFIXES:
                    continue
                if (self.root / rel).is_file():
                    self._paths.add(rel)
                else:
                    self._paths.discard(rel)
            self._derived = {}

    def derived(self, key: str, compute: Callable[[set[str]], object]) -> object:
        """A value computed from the file list (a resolver's index), kept until the list changes."""
        paths = self.paths()
        with self._lock:
            if key not in self._derived:
                self._derived[key] = compute(paths)
            return self._derived[key]

    def directories(self) -> dict[str, list[str]]:
        def compute(paths: set[str]) -> dict[str, list[str]]:
            dirs: dict[str, list[str]] = {}
            for rel in paths:
                dirs.setdefault(posixpath.dirname(rel), []).append(rel)
            return dirs

        return self.derived("directories", compute)  # type: ignore[return-value]

    def tail_match(self, tail: str) -> list[str]:
        return sorted(p for p in self.paths() if p == tail or p.endswith("/" + tail))[:1]

    # -- resolution --

    def resolve(self, language: str | None, importer: str, binding: ImportBinding) -> ImportBinding:
        """The binding with ``paths`` (and ``is_module``) filled in; unchanged when nothing matches."""
        spec = LANGUAGES.get(language or "")
        if spec is None or spec.resolve is None:
            return binding
        try:
            return spec.resolve(self, importer, binding)
        except (OSError, ValueError) as exc:
            log.debug("could not resolve %s in %s: %s", binding.module, importer, exc)
        return binding
