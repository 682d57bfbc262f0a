"""What the completion engine asks of a language: its line-comment mark and the words that are never workspace names.

The answers come from the index's language specs (``indexer.languages``); this module is the one place the engine
asks them.
"""

from __future__ import annotations

import functools

from indexer.languages import LANGUAGES, spec_for

# Words too common to be worth a lookup in any language (receivers and conventional short names).
_CONVENTIONAL = frozenset({"self", "cls", "this", "args", "kwargs", "ctx", "err"})


@functools.cache
def _all_noise() -> frozenset[str]:
    words: set[str] = set(_CONVENTIONAL)
    for spec in LANGUAGES.values():
        words |= spec.noise_words
    return frozenset(words)


def noise_words(language: str | None = None) -> frozenset[str]:
    """Keywords and builtins of ``language`` (of every known language when it is unknown)."""
    if language in LANGUAGES:
        return spec_for(language).noise_words | _CONVENTIONAL
    return _all_noise()


def line_comment(language: str | None) -> str:
    return spec_for(language).line_comment if language in LANGUAGES else "#"


def language_for(path: str, language_id: str | None = None) -> str | None:
    """Our language key for a document: by its file name, else by the client's LSP languageId (the language
    specs in ``indexer.languages`` list the ids they answer to)."""
    from indexer.languages import language_for_lsp_id, language_for_path

    return language_for_path(path) or language_for_lsp_id(language_id)
