"""Which workspace files to index, and reading one safely.

`IgnoreRules` answers "is this path ignored?" the way git would (every `.gitignore` applies under its own
folder, deeper files win, `.git/info/exclude` below them, a `.sragignore` above them), plus built-in
ignores for tool folders (`node_modules`, virtual environments, build output, caches) and likely secrets
(`.env`, keys, credentials), which are never indexed unless asked for. `iter_workspace_files` walks the
workspace without entering ignored folders or following directory symlinks. `read_source` reads one file
and returns its text or a `Skip` with a reason (binary, too large, generated, permission denied, vanished);
it never raises, and every skip leaves one log line.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pathspec import GitIgnoreSpec

log = logging.getLogger(__name__)

IGNORE_FILE = ".gitignore"
SRAG_IGNORE_FILE = ".sragignore"
GIT_EXCLUDE = ".git/info/exclude"

# Version-control metadata: always ignored, whatever the ignore files say.
ALWAYS_IGNORED_DIRS = frozenset({".git", ".hg", ".svn", ".bzr", "_darcs", ".jj"})

# Tool folders and outputs nobody wants in a code index (names matched in any folder, shell globs); an
# ignore file may re-include one with `!name/`. A folder holding `pyvenv.cfg` is a virtual environment
# and ignored whatever its name.
BUILTIN_IGNORED_DIRS: tuple[str, ...] = (
    "node_modules",
    "bower_components",
    ".venv",
    "venv",
    "__pycache__",
    "build",
    "dist",
    "target",
    "out",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".turbo",
    ".parcel-cache",
    ".cache",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    ".tox",
    ".nox",
    ".eggs",
    "*.egg-info",
    ".ipynb_checkpoints",
    ".idea",
    ".vscode",
    ".vs",
    ".gradle",
    ".terraform",
    ".direnv",
    "htmlcov",
    "coverage",
    "bazel-*",
    "CMakeFiles",
    ".srag",
)
# Files never worth reading: binaries and archives (read_source would skip most of them anyway).
BUILTIN_IGNORED_FILES: tuple[str, ...] = (
    ".coverage",
    ".DS_Store",
    "Thumbs.db",
    "*.pyc",
    "*.pyo",
    "*.so",
    "*.so.*",
    "*.dylib",
    "*.dll",
    "*.exe",
    "*.o",
    "*.obj",
    "*.a",
    "*.lib",
    "*.class",
    "*.jar",
    "*.war",
    "*.whl",
    "*.zip",
    "*.tar",
    "*.gz",
    "*.tgz",
    "*.bz2",
    "*.xz",
    "*.zst",
    "*.7z",
    "*.png",
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.ico",
    "*.pdf",
    "*.woff",
    "*.woff2",
    "*.ttf",
    "*.mp3",
    "*.mp4",
    "*.sqlite",
    "*.db",
)

# Likely secrets: skipped unless index_secrets=True (file names, in any folder).
SECRET_PATTERNS: tuple[str, ...] = (
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "credentials*",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".git-credentials",
    ".htpasswd",
    "secrets.*",
)


def _name_matcher(globs: tuple[str, ...]) -> Callable[[str], re.Match[str] | None]:
    """One compiled regex for a list of shell globs over a file name (one match call instead of many)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(g)})" for g in globs)).match


_builtin_dir = _name_matcher(BUILTIN_IGNORED_DIRS)
_builtin_file = _name_matcher(BUILTIN_IGNORED_FILES)
_secret_name = _name_matcher(SECRET_PATTERNS)

BINARY_SNIFF_BYTES = 8192
GENERATED_SNIFF_BYTES = 2048
MINIFIED_MIN_BYTES = 4096  # smaller files are never called minified
MINIFIED_AVG_LINE = 300  # average line length (bytes) above which a file is minified or generated data
_GENERATED_MARKERS = re.compile(rb"@generated\b|^// Code generated .* DO NOT EDIT\.$", re.M)
_MINIFIED_NAMES = re.compile(r"[.-]min\.(?:js|mjs|cjs|css)$|\.bundle\.js$", re.I)


def is_ignore_file(rel_path: str) -> bool:
    """Whether a change to this file changes the ignore rules (the watcher then calls `invalidate`)."""
    name = rel_path.rsplit("/", 1)[-1]
    return name in (IGNORE_FILE, SRAG_IGNORE_FILE) or rel_path.replace("\\", "/").endswith(GIT_EXCLUDE)


def _read_lines(path: Path) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("cannot read ignore file %s: %s", path, exc.strerror or exc)
        return None


class IgnoreRules:
    """Git's ignore semantics for one workspace root, plus built-in ignores and secrets.

    Precedence, lowest to highest: built-in ignores, `.git/info/exclude`, each `.gitignore` from the root
    down to the file's folder, `.sragignore` files (root and nested). Within each, the last matching pattern
    wins, so `!pattern` re-includes. As in git, nothing inside an ignored folder can be re-included.
    Version-control folders are always ignored; secrets unless `index_secrets`.
    """

    def __init__(self, root: str | os.PathLike[str], *, index_secrets: bool = False) -> None:
        self.root = Path(root).resolve()
        self.index_secrets = index_secrets
        self._exclude: GitIgnoreSpec | None = None
        self._specs: dict[str, tuple[GitIgnoreSpec | None, GitIgnoreSpec | None]] = {}
        self._dirs: dict[str, bool] = {}
        self.invalidate()

    def invalidate(self) -> None:
        """Forget the loaded ignore files (call after one of them changed)."""
        lines = _read_lines(self.root / GIT_EXCLUDE)
        self._exclude = GitIgnoreSpec.from_lines(lines) if lines else None
        self._specs.clear()
        self._dirs.clear()

    # ---- queries --------------------------------------------------------------------------------------

    def is_ignored(self, rel_path: str, is_dir: bool) -> bool:
        """Whether a workspace-relative path (forward or back slashes) is ignored, or lies in an ignored folder."""
        rel = _normalise(rel_path)
        if not rel:
            return False
        if rel.startswith("../"):
            return True  # outside the workspace
        parts = rel.split("/")
        for depth in range(1, len(parts)):
            if self._dir_ignored("/".join(parts[:depth])):
                return True
        if is_dir:
            return self._dir_ignored(rel)
        return self._ignored_here(rel, False)

    def is_secret(self, rel_path: str) -> bool:
        """Whether a file name looks like a secret (keys, .env files, credentials)."""
        return _secret_name(_normalise(rel_path).rsplit("/", 1)[-1]) is not None

    # ---- internals ------------------------------------------------------------------------------------

    def _dir_ignored(self, rel_dir: str) -> bool:
        cached = self._dirs.get(rel_dir)
        if cached is None:
            if len(self._dirs) > 50_000:
                self._dirs.clear()
            cached = self._dirs[rel_dir] = self._ignored_here(rel_dir, True)
        return cached

    def _ignored_here(self, rel: str, is_dir: bool) -> bool:
        """The rules for a path whose parent folders are known not to be ignored."""
        name = rel.rsplit("/", 1)[-1]
        if name in ALWAYS_IGNORED_DIRS:
            return True
        if not is_dir and not self.index_secrets and _secret_name(name) is not None:
            return True
        candidate = rel + "/" if is_dir else rel
        decision: bool | None = None
        if is_dir:
            if _builtin_dir(name) is not None or (self.root / rel / "pyvenv.cfg").is_file():
                decision = True
        elif _builtin_file(name) is not None:
            decision = True
        if self._exclude is not None:
            decision = _override(decision, self._exclude.check_file(candidate).include)
        parts = rel.split("/")
        sragignores: list[tuple[GitIgnoreSpec, str]] = []
        for depth in range(len(parts)):
            folder = "/".join(parts[:depth])
            gitignore, sragignore = self._folder_specs(folder)
            inner = "/".join(parts[depth:]) + ("/" if is_dir else "")
            if gitignore is not None:
                decision = _override(decision, gitignore.check_file(inner).include)
            if sragignore is not None:
                sragignores.append((sragignore, inner))
        for spec, inner in sragignores:
            decision = _override(decision, spec.check_file(inner).include)
        return bool(decision)

    def _folder_specs(self, folder: str) -> tuple[GitIgnoreSpec | None, GitIgnoreSpec | None]:
        specs = self._specs.get(folder)
        if specs is None:
            base = self.root / folder if folder else self.root
            gitignore = _read_lines(base / IGNORE_FILE)
            sragignore = _read_lines(base / SRAG_IGNORE_FILE)
            specs = self._specs[folder] = (
                GitIgnoreSpec.from_lines(gitignore) if gitignore else None,
                GitIgnoreSpec.from_lines(sragignore) if sragignore else None,
            )
        return specs


def _override(current: bool | None, new: bool | None) -> bool | None:
    return current if new is None else new


def _normalise(rel_path: str) -> str:
    rel = rel_path.replace("\\", "/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel.strip("/")


def iter_workspace_files(root: Path, rules: IgnoreRules) -> Iterator[Path]:
    """Absolute paths of the files under `root` that the rules keep, in a stable (sorted) order.

    Ignored folders are not entered. Directory symlinks are never followed (no loops, no trees outside the
    workspace, no second copy of a folder); a file symlink is kept only when it points at a regular file
    inside the workspace. Unreadable folders are logged and skipped.
    """
    root = Path(root).resolve()
    stack: list[tuple[Path, str]] = [(root, "")]
    while stack:
        folder, prefix = stack.pop()
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda e: e.name)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror or exc)
            continue
        subfolders: list[tuple[Path, str]] = []
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_symlink():
                    if _symlink_target_ok(root, Path(entry.path)) and not rules._ignored_here(rel, False):
                        yield Path(entry.path)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if not rules._dir_ignored(rel):
                        subfolders.append((Path(entry.path), rel + "/"))
                elif entry.is_file(follow_symlinks=False):
                    if not rules._ignored_here(rel, False):
                        yield Path(entry.path)
            except OSError as exc:
                log.info("skipped %s: %s", entry.path, exc.strerror or exc)
        stack.extend(reversed(subfolders))


def _symlink_target_ok(root: Path, link: Path) -> bool:
    """A file symlink is indexed only when it resolves to a regular file inside the workspace."""
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # broken link, or a loop
        log.info("skipped symlink %s: %s", link, getattr(exc, "strerror", None) or exc)
        return False
    if not target.is_relative_to(root):
        log.info("skipped symlink %s: it points outside the workspace (%s)", link, target)
        return False
    if target.is_dir():
        log.debug("not following directory symlink %s", link)
        return False
    return target.is_file()


# --------------------------------------------------------------------------------------------------
# Reading one file


@dataclass(slots=True)
class SourceText:
    """A file's text, ready to chunk."""

    path: Path
    text: str
    size: int  # bytes on disk
    mtime_ns: int
    sha1: str  # of the bytes read
    replaced: bool = False  # the bytes were not valid UTF-8; bad sequences became U+FFFD


@dataclass(slots=True)
class Skip:
    """Why a file is not indexed."""

    path: Path
    reason: str


def read_source(path: Path, max_bytes: int) -> SourceText | Skip:
    """Read a file as UTF-8 text, or say why not. Never raises; each skip is logged once.

    Skipped: not a regular file, larger than `max_bytes`, binary (a NUL byte in the first 8 KiB), generated
    or minified (`@generated` or Go's "Code generated ... DO NOT EDIT." near the top, `.min.js` names, very
    long average lines), permission denied, vanished. Invalid UTF-8 is decoded with replacement characters
    and a warning instead of being skipped.
    """
    path = Path(path)
    try:
        result = _read(path, max_bytes)
    except Exception as exc:  # a surprise must cost this file only
        result = Skip(path, f"unreadable ({type(exc).__name__}: {exc})")
    if isinstance(result, Skip):
        level = logging.WARNING if result.reason.startswith(("permission", "unreadable")) else logging.INFO
        log.log(level, "skipped %s: %s", path, result.reason)
    return result


def _read(path: Path, max_bytes: int) -> SourceText | Skip:
    try:
        # O_NONBLOCK: opening a FIFO must not hang; fstat then rejects anything but a regular file.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return Skip(path, "vanished")
    except PermissionError:
        return Skip(path, "permission denied")
    except IsADirectoryError:
        return Skip(path, "not a regular file")
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return Skip(path, "vanished")
        return Skip(path, f"unreadable ({exc.strerror or exc})")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return Skip(path, "not a regular file")
        if info.st_size > max_bytes:
            return Skip(path, f"too large ({info.st_size} bytes > {max_bytes} cap)")
        if _MINIFIED_NAMES.search(path.name):
            return Skip(path, "generated/minified (minified file name)")
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            data = handle.read(max_bytes + 1)
    except PermissionError:
        return Skip(path, "permission denied")
    except OSError as exc:
        return Skip(path, f"unreadable ({exc.strerror or exc})")
    finally:
        if fd != -1:
            os.close(fd)
    if len(data) > max_bytes:
        return Skip(path, f"too large (more than {max_bytes} bytes > {max_bytes} cap; it grew while read)")
    if b"\0" in data[:BINARY_SNIFF_BYTES]:
        return Skip(path, "binary")
    reason = _generated_reason(data)
    if reason is not None:
        return Skip(path, f"generated/minified ({reason})")
    replaced = False
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = data.decode("utf-8-sig", errors="replace")
        replaced = True
        log.warning("%s is not valid UTF-8 (first bad byte at offset %d); decoded with replacement", path, exc.start)
    return SourceText(
        path=path,
        text=text,
        size=len(data),
        mtime_ns=info.st_mtime_ns,
        sha1=hashlib.sha1(data).hexdigest(),
        replaced=replaced,
    )


def _generated_reason(data: bytes) -> str | None:
    if _GENERATED_MARKERS.search(data[:GENERATED_SNIFF_BYTES]):
        return "marked as generated"
    if len(data) >= MINIFIED_MIN_BYTES:
        average = len(data) / (data.count(b"\n") + 1)
        if average > MINIFIED_AVG_LINE:
            return f"average line length {average:.0f} bytes"
    return None
