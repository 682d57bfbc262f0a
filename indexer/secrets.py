"""Recognising secrets by their content and redacting them from text before it is stored or prompted.

File names catch the obvious secret files (:mod:`indexer.files` skips `.env`, keys, credentials); this
module catches a secret inside an ordinary file: an AWS key in `settings_local.py`, a token in a string
literal, a private key pasted into a test. The detectors are `detect-secrets`' plugins (cloud keys, tokens,
private keys, secret-sounding assignments, high-entropy quoted strings), used as a library and offline:
their regexes and entropy limits, never their network verification. Their matches are widened to the whole
token (some plugins report only a prefix such as ``ghp``) and replaced with :data:`REDACTED`.

Each line's findings are cached (a completion window moves by a line or a character per keystroke, so
nearly every line of it was seen before); :func:`redact` costs about a cache look-up per unchanged line.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.filters import heuristic
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
from detect_secrets.plugins.keyword import DENYLIST, QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP, REGEX_BY_FILETYPE
from detect_secrets.util.filetype import determine_file_type

if TYPE_CHECKING:
    from indexer.model import Chunk

log = logging.getLogger(__name__)

REDACTED = "«redacted»"

# Public IP addresses are not credentials, and code is full of them (resolvers, examples).
_EXCLUDED_PLUGINS = frozenset({"IPPublicDetector"})

# A private key's body: from its BEGIN line to its END line (or the end of the text, when cut off).
_PEM_BLOCK = re.compile(
    r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
    re.S,
)
# A line that is nothing but one long base64 run: a key body cut from its BEGIN line (a window or a split
# chunk may start in the middle of one). Checked for entropy before it is redacted.
_BARE_BASE64_LINE = re.compile(r"^\s*[\"']?([A-Za-z0-9+/]{40,}={0,2})[\"']?,?\s*$")
# The characters a token is made of: a plugin's match is widened to the whole run around it.
_TOKEN_CHAR = re.compile(r"[A-Za-z0-9_\-+/=.~]")
# The keywords of `detect-secrets`' keyword rules, in one cheap search: their own regexes are slow (about
# 0.1 ms a line) and run only on lines that name one.
_KEYWORD = re.compile("|".join(DENYLIST), re.I)
# What every detector needs to find (a superset, checked first and cheaply: most lines of code have none of
# it): a long run of token characters (every key and token format, and a base64 string of entropy above
# 4.5, has 16 or more), a run of 9 hex digits (a hex string of entropy above 3.0), or a plugin's literal
# marker for formats whose value may be split by punctuation. Keywords are checked on the lowered line
# (every entry of the keyword list contains one of these stems).
_CANDIDATE = re.compile(
    r"[A-Za-z0-9+/=_-]{16}|[0-9a-fA-F]{9}|://|PRIVATE KEY|PuTTY|_authToken|eyJ|sq0|AKC|AP[0-9A-F]|[0-9]{8}:"
)
_KEYWORD_STEMS = ("key", "pass", "pwd", "secret", "contrase")
_MAX_LINE = 4096  # longer lines (minified code, data) are cut into pieces of this size before scanning


@dataclass(frozen=True, slots=True)
class _Detectors:
    regexes: tuple[re.Pattern[str], ...]  # a match is a secret (cloud keys, tokens)
    entropy: tuple[HighEntropyStringsPlugin, ...]  # quoted strings above an entropy limit


@functools.cache
def _detectors() -> _Detectors:
    regexes: list[re.Pattern[str]] = []
    entropy: list[HighEntropyStringsPlugin] = []
    for cls in get_mapping_from_secret_type_to_class().values():
        if cls.__name__ in _EXCLUDED_PLUGINS:
            continue
        if issubclass(cls, RegexBasedDetector):
            regexes.extend(cls.denylist)
        elif issubclass(cls, HighEntropyStringsPlugin):
            entropy.append(cls())  # default limits: base64 4.5, hex 3.0
    return _Detectors(tuple(regexes), tuple(entropy))


@functools.lru_cache(maxsize=64)
def _keyword_regexes(path: str | None) -> dict[re.Pattern[str], int]:
    """`detect-secrets`' secret-sounding-assignment regexes for this kind of file (by extension)."""
    if not path:
        return QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
    return REGEX_BY_FILETYPE.get(determine_file_type(path), QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP)


def _false_positive(secret: str) -> bool:
    """`detect-secrets`' heuristics for values that only look like secrets (sequences, UUIDs, templates)."""
    return (
        len(secret) < 4
        or heuristic.is_sequential_string(secret)
        or heuristic.is_potential_uuid(secret)
        or heuristic.is_templated_secret(secret)
        or heuristic.is_prefixed_with_dollar_sign(secret)
        or heuristic.is_not_alphanumeric_string(secret)
    )


def _match_span(line: str, match: re.Match[str]) -> tuple[int, int]:
    """The secret's span in a plugin's match: its longest group when that is a value of some length (the
    key in ``aws_secret_access_key = "..."``), else the whole match grown to the token around it."""
    best = max(
        (i for i in range(1, (match.re.groups or 0) + 1) if match.group(i)),
        key=lambda i: match.end(i) - match.start(i),
        default=0,
    )
    if best and match.end(best) - match.start(best) >= 6:
        return match.start(best), match.end(best)
    return _widen(line, match.start(), match.end())


def _widen(line: str, start: int, end: int) -> tuple[int, int]:
    """Grow a match to the whole token around it (``ghp`` -> ``ghp_...``)."""
    while start > 0 and _TOKEN_CHAR.match(line[start - 1]):
        start -= 1
    while end < len(line) and _TOKEN_CHAR.match(line[end]):
        end += 1
    return start, end


@functools.lru_cache(maxsize=65536)
def _line_spans(line: str, keyword_key: str) -> tuple[tuple[int, int], ...]:
    """(start, end) of each secret in one line, merged and sorted; () for a clean line (the usual case)."""
    if len(line) > _MAX_LINE:
        spans: list[tuple[int, int]] = []
        for offset in range(0, len(line), _MAX_LINE):
            piece = line[offset : offset + _MAX_LINE]
            spans.extend((s + offset, e + offset) for s, e in _line_spans(piece, keyword_key))
        return _merge(spans)
    if _CANDIDATE.search(line) is None:
        lowered = line.lower()
        if not any(stem in lowered for stem in _KEYWORD_STEMS):
            return ()
    detectors = _detectors()
    found: list[tuple[int, int]] = []
    for regex in detectors.regexes:
        for match in regex.finditer(line):
            if match.end() > match.start():
                found.append(_match_span(line, match))
    for plugin in detectors.entropy:
        for match in plugin.regex.finditer(line):
            value = match.group(2)
            if plugin.calculate_shannon_entropy(value) > plugin.entropy_limit and not _false_positive(value):
                found.append((match.start(2), match.end(2)))
    if _KEYWORD.search(line) is not None:
        for regex, group in _keyword_regexes(keyword_key).items():
            match = regex.search(line)
            if match is None or not match.group(group) or _false_positive(match.group(group)):
                continue
            if not heuristic.is_indirect_reference(line):
                found.append((match.start(group), match.end(group)))
    bare = _BARE_BASE64_LINE.match(line)
    if bare is not None:
        value = bare.group(1)
        for plugin in detectors.entropy:
            if plugin.secret_type.startswith("Base64") and plugin.calculate_shannon_entropy(value) > 4.5:
                found.append((bare.start(1), bare.end(1)))
    return _merge(found)


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _keyword_key(path: str | None) -> str:
    """The part of the path the keyword regexes depend on (its extension), so that the cache is shared."""
    if not path:
        return ""
    dot = path.rfind(".")
    return "x" + path[dot:] if dot > path.rfind("/") else ""


def find_secrets(text: str, path: str | None = None) -> list[str]:
    """The secret values in ``text`` (each once, longest first)."""
    values: dict[str, None] = {}
    for match in _PEM_BLOCK.finditer(text):
        values[match.group(0)] = None
    key = _keyword_key(path)
    for line in text.splitlines():
        for start, end in _line_spans(line, key):
            values[line[start:end]] = None
    return sorted(values, key=len, reverse=True)


def redact(text: str, path: str | None = None) -> str:
    """``text`` with every secret value replaced by :data:`REDACTED`; the text itself when it has none.

    Line structure is kept (a private key block becomes one ``«redacted»`` line per line it had), so line
    numbers computed on the redacted text still hold. ``path`` picks the file type's keyword rules.
    """
    if not text:
        return text
    if "PRIVATE KEY" in text:
        text = _PEM_BLOCK.sub(lambda m: "\n".join(REDACTED for _ in m.group(0).split("\n")), text)
    key = _keyword_key(path)
    lines = text.split("\n")
    changed = False
    for index, line in enumerate(lines):
        spans = _line_spans(line, key)
        if spans:
            lines[index] = _apply(line, spans)
            changed = True
    return "\n".join(lines) if changed else text


def _apply(line: str, spans: tuple[tuple[int, int], ...]) -> str:
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(line[last:start])
        parts.append(REDACTED)
        last = end
    parts.append(line[last:])
    return "".join(parts)


def _scrub(value: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
        lowered = secret.lower()
        if lowered != secret and lowered in value:
            value = value.replace(lowered, REDACTED)
    return value


def redact_chunk(chunk: Chunk) -> Chunk:
    """The chunk with its secrets redacted in every text field; the chunk itself when it has none.

    The text is redacted line by line; the values found there are also removed from the signature, names,
    identifier lists and full-text tokens, and the content hash is recomputed from the redacted text (a hash
    of a short secret-bearing text could be brute-forced).
    """
    secrets = find_secrets(chunk.text, chunk.path)
    if not secrets:
        return chunk
    text = redact(chunk.text, chunk.path)
    fields: dict[str, Any] = {
        "text": text,
        "content_hash": hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest(),
        "signature": _scrub(redact(chunk.signature, chunk.path), secrets),
    }
    for name in ("symbol", "qualified_name", "scope", "tokens"):
        fields[name] = _scrub(getattr(chunk, name), secrets)
    fields["defines"] = [_scrub(v, secrets) for v in chunk.defines]
    fields["uses"] = [_scrub(v, secrets) for v in chunk.uses]
    log.info("redacted %d secret(s) in %s lines %d-%d", len(secrets), chunk.path, chunk.start_line, chunk.end_line)
    return replace(chunk, **fields)


def redact_chunks(chunks: Iterable[Chunk]) -> list[Chunk]:
    """:func:`redact_chunk` of each chunk."""
    return [redact_chunk(chunk) for chunk in chunks]

