"""What the code being typed is about to need: a kind of definition, and the words around the cursor.

The line before the cursor often says what comes next: ``raise`` wants an exception class, ``except (``
too, ``isinstance(x,`` a class, ``@`` a decorator, ``x =`` something callable. And the words being typed
name it: ``self.cookies = `` is followed by ``cookiejar_from_dict(...)`` far more often than by an
unrelated import. :func:`expect` reads both from the analysis; :class:`AffinityScorer` scores a candidate's
name against them, relative to the other candidates (rare shared words count more), and
:func:`description_affinity` its parameters and docstring.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from indexer.identifiers import IDENTIFIER, split_identifier
from srag_lsp.retrieval.cursor import CursorAnalysis, noise_words

_EXCEPTION_NAME = re.compile(r"(?:Error|Exception|Warning|Exit|Interrupt|Timeout|Failure)\b")
_CLASS_BASES = re.compile(r"^\s*class\s+\w+\s*\(([^)]*)\)")

# (pattern on the cursor line up to the partial identifier, the kind it expects)
_LINE_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?:^|\s)raise\s+(?:\w+\.)*$"), "exception"),
    (re.compile(r"(?:^|\s)except\s*\(?(?:[\w.]+\s*,\s*)*(?:\w+\.)*$"), "exception"),
    (re.compile(r"\bcatch\s*\(\s*\w*\s*:?\s*$"), "exception"),
    (re.compile(r"\bthrow\s+new\s+$"), "exception"),
    (re.compile(r"\b(?:isinstance|issubclass)\([^,()]*,\s*\(?(?:[\w.]+\s*,\s*)*(?:\w+\.)*$"), "class"),
    (re.compile(r"^\s*class\s+\w+\s*\((?:[\w.]+\s*,\s*)*(?:\w+\.)*$"), "class"),
    (re.compile(r"\b(?:new|extends|implements|instanceof)\s+(?:\w+\.)*$"), "class"),
    (re.compile(r"(?:->|:)\s*(?:[\w.]+\[)?(?:\w+\.)*$"), "type"),
    (re.compile(r"^\s*@(?:\w+\.)*$"), "function"),
    (re.compile(r"(?:[^=!<>]=|\breturn|\byield|\bawait)\s*(?:\w+\.)*$"), "callable"),
]
LINE_WEIGHT = 1.0
NEAR_WEIGHTS = (0.5, 0.35, 0.25)  # the three lines above the cursor
FAR_WEIGHT = 0.15  # lines 4 to FAR_LINES above the cursor
FAR_LINES = 12
SCOPE_WEIGHT = 0.4  # the enclosing function's and class's names
PREFIX_MATCH = 0.5  # "cookie" against "cookiejar": a weaker match than the same word
DESCRIPTION_LINES = 6  # a definition's first lines: its signature and the start of its docstring
DESCRIPTION_CAP = 2.0
KIND_BOOST = 2.0
KIND_PENALTY = 0.5


@dataclass(slots=True)
class Expectation:
    kind: str = ""  # exception | class | type | function | callable | "" (no idea)
    words: dict[str, float] = field(default_factory=dict)  # sub-word -> weight


def expect(analysis: CursorAnalysis, line_prefix: str) -> Expectation:
    """The expected kind from the cursor line (without the partial), and the weighted words around it."""
    kind = ""
    for pattern, expected in _LINE_RULES:
        if pattern.search(line_prefix):
            kind = expected
            break
    noise = noise_words(analysis.language)
    skip = {"self", "this", "cls", *analysis.receiver.split(".")}  # ``nodes.`` says nothing about which node
    words: dict[str, float] = {}
    lines = (analysis.window_keys or analysis.window_before).split("\n")
    weighted = [(lines[-1] if lines else "", LINE_WEIGHT)]
    for i in range(2, min(len(lines), FAR_LINES + 1) + 1):
        weighted.append((lines[-i], NEAR_WEIGHTS[i - 2] if i - 2 < len(NEAR_WEIGHTS) else FAR_WEIGHT))
    weighted.append((f"{analysis.enclosing_function} {analysis.enclosing_class}", SCOPE_WEIGHT))
    weighted.append((analysis.partial, LINE_WEIGHT))
    for text, weight in weighted:
        for identifier in IDENTIFIER.findall(text):
            if identifier in noise or identifier in skip:
                continue
            for word in split_identifier(identifier):
                word = stem(word)
                if len(word) > 1 and words.get(word, 0.0) < weight:
                    words[word] = weight
    return Expectation(kind, words)


def stem(word: str) -> str:
    """A crude plural/verb-form folding for matching words: cookies -> cookie, headers -> header."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def is_exception(symbol: str, kind: str, signature: str) -> bool:
    if kind not in ("class", "struct"):
        return False
    if _EXCEPTION_NAME.search(symbol):
        return True
    match = _CLASS_BASES.match(signature)
    return bool(match and _EXCEPTION_NAME.search(match.group(1)))


_KNOWN_KINDS = frozenset({"class", "struct", "interface", "enum", "type", "function", "method", "impl"})


def kind_factor(expected: str, symbol: str, kind: str, signature: str) -> float:
    """How well a definition fits the expected kind: a boost, a penalty, or 1 when nothing is expected."""
    if not expected:
        return 1.0
    exception = is_exception(symbol, kind, signature)
    if expected in ("exception", "class", "type") and kind not in _KNOWN_KINDS:
        return 1.0  # a plain module-level binding (``basestring = (str, bytes)``) may be a tuple of classes
    if expected == "exception":
        return KIND_BOOST if exception else KIND_PENALTY
    if expected in ("class", "type"):
        return KIND_BOOST if kind in ("class", "struct", "interface", "enum", "type") else KIND_PENALTY
    if expected == "function":
        return KIND_BOOST if kind in ("function", "method") else KIND_PENALTY
    if expected == "callable":
        return KIND_PENALTY if exception else 1.0
    return 1.0


class AffinityScorer:
    """Word overlap between candidate names and the expectation, with rarity among the candidates."""

    def __init__(self, expectation: Expectation, candidates: Iterable[str]) -> None:
        self.expectation = expectation
        names = list(dict.fromkeys(candidates))
        df: dict[str, int] = {}
        for name in names:
            for word in set(split_identifier(name)):
                df[word] = df.get(word, 0) + 1
        n = max(1, len(names))
        self._idf = {w: math.log(1 + n / c) for w, c in df.items()}
        self._norm = math.log(1 + n)

    def __call__(self, name: str) -> float:
        """0 when no word is shared; about 1 for one rare word shared with the cursor line."""
        words = self.expectation.words
        if not words:
            return 0.0
        score = 0.0
        for raw in set(split_identifier(name)):
            word = stem(raw)
            weight = words.get(word, 0.0)
            if not weight and len(word) >= 4:
                weight = PREFIX_MATCH * max(
                    (
                        w
                        for other, w in words.items()
                        if len(other) >= 4 and (other.startswith(word) or word.startswith(other))
                    ),
                    default=0.0,
                )
            if weight:
                score += weight * self._idf.get(raw, self._norm) / self._norm
        return score


def description_affinity(text: str, symbol: str, expectation: Expectation) -> float:
    """The cursor's words that a definition's first lines (parameters, docstring) use besides its own name:
    ``username, password =`` and ``get_auth_from_url``, whose docstring says it returns them. 0 to 2."""
    words = expectation.words
    if not words or not text:
        return 0.0
    found = _description_words("\n".join(text.split("\n", DESCRIPTION_LINES)[:DESCRIPTION_LINES]), symbol)
    return min(DESCRIPTION_CAP, sum(words.get(word, 0.0) for word in found))


@lru_cache(maxsize=8192)
def _description_words(head: str, symbol: str) -> frozenset[str]:
    own = {stem(word) for word in split_identifier(symbol)}
    return frozenset(
        stem(word)
        for identifier in IDENTIFIER.findall(head)
        for word in split_identifier(identifier)
        if len(word) > 2 and stem(word) not in own
    )
