"""The data the index holds: chunks of source code and per-file records (the contract between chunker and store)."""

from __future__ import annotations

from dataclasses import dataclass, field

# Bump when the table schema, the chunker's output or the language table changes: a mismatch
# with the stored manifest triggers a clean rebuild.
SCHEMA_VERSION = 1


@dataclass(slots=True)
class Chunk:
    """One indexed unit: a definition, or a run of module-level code between definitions."""

    id: str  # stable: sha1 of (path, qualified_name or "@L<start>", content hash)
    path: str  # workspace-relative, forward slashes
    language: str  # key of the language table ("python", "typescript", ...)
    symbol: str  # bare name ("wrap"); "" for module-level code
    qualified_name: str  # "TextWrapper.wrap"; "" for module-level code
    kind: str  # function | method | class | struct | interface | enum | type | constant | module | impl
    start_line: int  # 1-based, inclusive
    end_line: int  # 1-based, inclusive
    signature: str  # the definition's header line(s), e.g. "def wrap(self, text: str) -> list[str]:"
    scope: str  # enclosing scope's qualified name ("" at top level)
    text: str  # the chunk's source text (for split chunks: a header naming the parent, then the part)
    content_hash: str  # sha1 of text
    defines: list[str] = field(default_factory=list)  # identifiers this chunk defines
    uses: list[str] = field(default_factory=list)  # identifiers this chunk references
    tokens: str = ""  # space-joined identifier sub-words (snake_case/camelCase split, lowercased) for FTS


@dataclass(slots=True)
class FileChunks:
    """What the chunker returns for one file."""

    path: str
    language: str
    chunks: list[Chunk]
    imports: list[str]  # module paths / specifiers imported by the file, as written
    error: str | None = None  # a parse problem worth logging (syntax errors still produce chunks)
