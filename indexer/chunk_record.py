"""One :class:`~indexer.model.Chunk` from its text: an id unique in its file, the identifiers it defines and
uses, and its full-text search tokens."""

from __future__ import annotations

import hashlib

from indexer.identifiers import token_string
from indexer.languages import TEXT_LEXER, LanguageSpec
from indexer.model import Chunk


def make_chunk(
    path: str,
    language: str,
    spec: LanguageSpec | None,
    ids: set[str],
    kind: str,
    symbol: str,
    qualified: str,
    scope: str,
    signature: str,
    start: int,
    end: int,
    body: bytes,
    defines: list[str],
) -> Chunk:
    content_hash = hashlib.sha1(body).hexdigest()
    key = qualified or f"@L{start}"
    chunk_id = hashlib.sha1(f"{path}\0{key}\0{content_hash}".encode("utf-8", "surrogatepass")).hexdigest()
    duplicate = 1
    while chunk_id in ids:  # the same name with the same text twice in a file: keep ids unique
        duplicate += 1
        chunk_id = hashlib.sha1(
            f"{path}\0{key}#{duplicate}\0{content_hash}".encode("utf-8", "surrogatepass")
        ).hexdigest()
    ids.add(chunk_id)
    lexer = spec.lexer if spec is not None else TEXT_LEXER
    keywords = spec.keyword_bytes if spec is not None else frozenset()
    if len(defines) > 1 or not all(defines):
        defines = list(dict.fromkeys(filter(None, defines)))
    found = set(lexer.findall(body))  # set operations and one decode: no Python loop per identifier
    found.discard(b"")
    found -= keywords
    if defines:
        found.difference_update([d.encode("utf-8", "surrogatepass") for d in defines])
    uses = sorted(b"\0".join(found).decode("utf-8", "replace").split("\0")) if found else []
    scope_parts = scope.split(".") if scope else []
    return Chunk(
        id=chunk_id,
        path=path,
        language=language,
        symbol=symbol,
        qualified_name=qualified,
        kind=kind,
        start_line=start,
        end_line=end,
        signature=signature,
        scope=scope,
        text=body.decode("utf-8", "replace"),
        content_hash=content_hash,
        defines=defines,
        uses=uses,
        tokens=token_string([*scope_parts, *defines, *uses]),
    )
