"""What the completion engine asks of a language: its line-comment mark and the words that are never workspace names.

The answers come from the index's language specs where they say; this module is the one place the engine asks.
"""

from __future__ import annotations

import builtins
import keyword

_LINE_COMMENT = {
    "python": "#", "rust": "//", "go": "//", "javascript": "//", "typescript": "//", "tsx": "//", "java": "//",
    "c": "//", "cpp": "//",
}

# Words that are never worth looking up in the workspace, whatever the language.
COMMON_NAMES = frozenset(dir(builtins)) | frozenset(keyword.kwlist) | frozenset(
    {"self", "cls", "this", "true", "false", "null", "nil", "none", "var", "let", "const", "func", "fn",
     "return", "new", "int", "str", "string", "float", "bool", "void", "err", "ctx", "args", "kwargs"}
)


def line_comment(language: str | None) -> str:
    return _LINE_COMMENT.get(language or "", "#")
