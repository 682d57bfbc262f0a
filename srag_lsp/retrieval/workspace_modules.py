"""The workspace's source files, and import resolution against them.

``WorkspaceModules.resolve(language, importer, binding)`` fills in the workspace-relative paths a binding
names:
- Python: relative imports from the file's package; absolute imports by matching the dotted path against
  the workspace's paths from each folder that is not itself a package (so ``requests.models`` finds
  ``models.py`` when the workspace *is* the ``requests`` package, and ``src/pkg/mod.py`` when it is a
  repository, while a package's inner ``vendor/requests.py`` is never the top-level ``requests``);
  ``from pkg import mod`` binds the submodule when one exists.
- JavaScript/TypeScript: relative specifiers with the usual extensions and ``index`` files; ``@/`` and
  ``~/`` as ``src/``.
- Best effort for the rest: Java (``a.b.C`` -> ``a/b/C.java``), Go (package directories by path tail),
  Rust (``crate::a::b`` -> ``src/a/b.rs`` or ``src/a/b/mod.rs``), C/C++ quoted includes.
The file list is scanned once (off the event loop) and kept up to date by ``refresh(changed_paths)``.
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Iterable
from pathlib import Path

from srag_lsp.retrieval.imports import ImportBinding

log = logging.getLogger(__name__)

SOURCE_SUFFIXES = frozenset(
    {
        ".py",
        ".pyi",
        ".js",
        ".jsx",
        ".mjs",
        ".cjs",
        ".ts",
        ".tsx",
        ".mts",
        ".cts",
        ".go",
        ".rs",
        ".java",
        ".c",
        ".h",
        ".cc",
        ".cpp",
        ".cxx",
        ".hpp",
        ".hh",
        ".hxx",
    }
)
_SKIP_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "target", "dist", "build"})
_JS_EXTENSIONS = ("", ".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")
_JS_INDEX = ("/index.ts", "/index.tsx", "/index.js", "/index.jsx", "/index.mjs")
MAX_FILES = 200_000


class WorkspaceModules:
    """The workspace's source files, and import resolution against them. Scans lazily, off the loop."""

    def __init__(self, root: str | Path, max_files: int = MAX_FILES) -> None:
        self.root = Path(root)
        self._max_files = max_files
        self._lock = threading.Lock()
        self._paths: set[str] | None = None
        self._py_tails: dict[tuple[str, ...], list[str]] | None = None
        self._dirs: dict[str, list[str]] | None = None
        # When the workspace folder is itself a Python package, absolute imports start with its name.
        self._package_prefix = self.root.name if (self.root / "__init__.py").is_file() else ""

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
                self._py_tails = None
                self._dirs = None
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
            self._py_tails = None
            self._dirs = None

    def _python_tails(self) -> dict[tuple[str, ...], list[str]]:
        paths = self.paths()
        with self._lock:
            if self._py_tails is None:
                # A module is importable by the dotted path that starts at a folder that is not itself a
                # package (a sys.path root: the workspace, src/, ...): integrations/pyarrow.py inside a
                # package is never the top-level ``pyarrow``.
                packages = {posixpath.dirname(p) for p in paths if p.endswith(("/__init__.py", "/__init__.pyi"))}
                if any(p in ("__init__.py", "__init__.pyi") for p in paths):
                    packages.add("")
                tails: dict[tuple[str, ...], list[str]] = {}
                for rel in paths:
                    if not rel.endswith((".py", ".pyi")):
                        continue
                    parts = rel.rsplit(".", 1)[0].split("/")
                    if parts[-1] == "__init__":
                        parts = parts[:-1]
                    dirs = rel.split("/")[:-1]
                    if self._package_prefix:
                        # the workspace folder is a package: its modules start with its name
                        tails.setdefault(tuple([self._package_prefix, *parts]), []).append(rel)
                        continue
                    for i in range(len(parts)):
                        if i == 0 or "/".join(dirs[:i]) not in packages:
                            tails.setdefault(tuple(parts[i:]), []).append(rel)
                self._py_tails = tails
            return self._py_tails

    def _directories(self) -> dict[str, list[str]]:
        paths = self.paths()
        with self._lock:
            if self._dirs is None:
                dirs: dict[str, list[str]] = {}
                for rel in paths:
                    dirs.setdefault(posixpath.dirname(rel), []).append(rel)
                self._dirs = dirs
            return self._dirs

    # -- resolution --

    def resolve(self, language: str | None, importer: str, binding: ImportBinding) -> ImportBinding:
        """The binding with ``paths`` (and ``is_module``) filled in; unchanged when nothing matches."""
        try:
            if language == "python":
                return self._resolve_python(importer, binding)
            if language in ("javascript", "typescript", "tsx"):
                return self._with_paths(binding, self._resolve_js(importer, binding.module))
            if language == "java":
                return self._with_paths(binding, self._resolve_java(binding))
            if language == "go":
                return self._with_paths(binding, self._resolve_go(binding.module))
            if language == "rust":
                return self._with_paths(binding, self._resolve_rust(importer, binding.module))
            if language in ("c", "cpp"):
                return self._with_paths(binding, self._resolve_include(importer, binding.module))
        except (OSError, ValueError) as exc:
            log.debug("could not resolve %s in %s: %s", binding.module, importer, exc)
        return binding

    @staticmethod
    def _with_paths(binding: ImportBinding, paths: list[str], is_module: bool | None = None) -> ImportBinding:
        if not paths:
            return binding
        return ImportBinding(
            binding.local,
            binding.module,
            binding.name,
            binding.line,
            tuple(paths),
            binding.is_module if is_module is None else is_module,
        )

    def _python_module(self, importer: str, module: str) -> list[str]:
        """Workspace files of a (possibly relative) dotted Python module."""
        level = len(module) - len(module.lstrip("."))
        rest = module[level:]
        if level:
            base = posixpath.dirname(importer)
            for _ in range(level - 1):
                base = posixpath.dirname(base)
            paths = self.paths()
            if rest:
                stem = posixpath.join(base, *rest.split("."))
                candidates = [f"{stem}.py", f"{stem}/__init__.py", f"{stem}.pyi", f"{stem}/__init__.pyi"]
            else:
                candidates = [posixpath.join(base, "__init__.py"), posixpath.join(base, "__init__.pyi")]
            return [p for p in candidates if p in paths][:1]
        if not rest:
            return []
        candidates = self._python_tails().get(tuple(rest.split(".")), [])
        if not candidates:
            return []
        importer_dir = posixpath.dirname(importer)

        def closeness(path: str) -> tuple[int, int, str]:
            shared = (
                len(posixpath.commonpath([importer_dir, posixpath.dirname(path)]).split("/"))
                if importer_dir and posixpath.dirname(path)
                else 0
            )
            return (-shared, path.count("/"), path)

        return sorted(candidates, key=closeness)[:1]

    def _resolve_python(self, importer: str, binding: ImportBinding) -> ImportBinding:
        module_paths = self._python_module(importer, binding.module)
        if binding.is_module:
            return self._with_paths(binding, module_paths, True)
        if binding.name and binding.name != "*":
            # ``from pkg import name``: name may be a submodule of pkg.
            sep = "" if binding.module.endswith(".") else "."
            submodule = self._python_module(importer, f"{binding.module}{sep}{binding.name}")
            if submodule:
                return self._with_paths(binding, submodule, True)
        return self._with_paths(binding, module_paths, False)

    def _resolve_js(self, importer: str, specifier: str) -> list[str]:
        if specifier.startswith((".", "/")):
            base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
        elif specifier.startswith(("@/", "~/")):
            base = "src/" + specifier[2:]
        else:
            return []
        paths = self.paths()
        stem = base[:-3] if base.endswith((".js", ".jsx")) and base not in paths else base
        for candidate in [*(stem + ext for ext in _JS_EXTENSIONS), *(base + idx for idx in _JS_INDEX)]:
            if candidate in paths:
                return [candidate]
        return []

    def _tail_match(self, tail: str) -> list[str]:
        return sorted(p for p in self.paths() if p == tail or p.endswith("/" + tail))[:1]

    def _resolve_java(self, binding: ImportBinding) -> list[str]:
        if binding.name == "*":
            directory = binding.module.replace(".", "/")
            return sorted(p for p in self.paths() if posixpath.dirname(p).endswith(directory))[:20]
        parts = [*binding.module.split("."), binding.name]
        # import a.b.C -> a/b/C.java; import static a.b.C.m -> a/b/C.java
        for cut in (len(parts), len(parts) - 1):
            hit = self._tail_match("/".join(parts[:cut]) + ".java")
            if hit:
                return hit
        return []

    def _resolve_go(self, module: str) -> list[str]:
        dirs = self._directories()
        parts = module.split("/")
        for i in range(len(parts)):
            tail = "/".join(parts[i:])
            matches = [d for d in dirs if d == tail or d.endswith("/" + tail)]
            if matches:
                directory = sorted(matches, key=len)[0]
                return sorted(p for p in dirs[directory] if p.endswith(".go") and not p.endswith("_test.go"))
        return []

    def _resolve_rust(self, importer: str, module: str) -> list[str]:
        parts = [p for p in module.split("::") if p]
        if not parts:
            return []
        if parts[0] == "crate":
            base = importer.split("src/", 1)[0] + "src" if "src/" in importer else "src"
            parts = parts[1:]
        elif parts[0] in ("super", "self"):
            base = posixpath.dirname(importer)
            while parts and parts[0] in ("super", "self"):
                if parts[0] == "super":
                    base = posixpath.dirname(base)
                parts = parts[1:]
        else:
            return []
        paths = self.paths()
        for cut in range(len(parts), 0, -1):
            stem = posixpath.join(base, *parts[:cut])
            for candidate in (f"{stem}.rs", f"{stem}/mod.rs"):
                if candidate in paths:
                    return [candidate]
        return []

    def _resolve_include(self, importer: str, header: str) -> list[str]:
        local = posixpath.normpath(posixpath.join(posixpath.dirname(importer), header))
        if local in self.paths():
            return [local]
        return self._tail_match(header)
