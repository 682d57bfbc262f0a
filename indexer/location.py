"""Where a workspace's index lives: a per-workspace folder under the user's cache directory, or an override.

The location is kept as a URI string so that object storage (``s3://...``) can come later; today only local
paths (plain or ``file://``) can be written, because the manifest and the writer lock are local files.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import platformdirs

ENV_INDEX_DIR = "SRAG_INDEX_DIR"  # the exact index folder (same meaning as the ``index_dir`` setting)
ENV_CACHE_DIR = "SRAG_CACHE_DIR"  # the cache root ("indexes/" is created under it)


def cache_root() -> Path:
    """The folder under which per-workspace index folders are created."""
    base = os.environ.get(ENV_CACHE_DIR) or platformdirs.user_cache_dir("srag-lsp")
    return Path(base).expanduser() / "indexes"


def workspace_key(root: str | Path) -> str:
    """``<basename>-<sha1(absolute path)[:12]>``: readable, and unique per workspace folder."""
    absolute = Path(root).expanduser().resolve()
    digest = hashlib.sha1(str(absolute).encode("utf-8", "surrogateescape")).hexdigest()[:12]
    name = absolute.name or "root"
    return f"{name}-{digest}"


def resolve_index_dir(root: str | Path, explicit: str | None = None) -> str:
    """The index location for ``root``: ``explicit`` if given, else ``$SRAG_INDEX_DIR``, else the cache folder."""
    chosen = explicit or os.environ.get(ENV_INDEX_DIR) or ""
    if chosen:
        if is_local(chosen):
            return str(local_path(chosen))
        return chosen
    return str(cache_root() / workspace_key(root))


def is_local(uri: str) -> bool:
    """True for a plain path or a ``file://`` URI."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(uri: str) -> Path:
    """The filesystem path of a local index location; ValueError for a remote one."""
    if not is_local(uri):
        raise ValueError(f"index location {uri!r} is not a local path (object storage is not supported yet)")
    if uri.startswith("file://"):
        return Path(unquote(urlparse(uri).path)).expanduser().resolve()
    return Path(uri).expanduser().resolve()


def ensure_index_dir(uri: str) -> Path:
    """Create the local index folder (and its parents) with permissions 0700; return its path."""
    path = local_path(uri)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:  # a folder we do not own (an explicit shared location): leave it as it is
        pass
    return path
