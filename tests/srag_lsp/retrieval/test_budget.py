"""The token budget: whole bodies while they are cheap, signatures (class outlines) when it gets tight."""

from __future__ import annotations

from srag_lsp.retrieval.budget import approx_tokens, compact_text, fit_budget, total_tokens
from srag_lsp.retrieval.types import ContextChunk

BODY = "\n".join(f"    value_{i} = compute_something({i})" for i in range(40))


def function(name: str, lines: int = 40) -> ContextChunk:
    body = "\n".join(BODY.split("\n")[:lines])
    text = f"def {name}(data: dict, retries: int = 3) -> bool:\n{body}\n    return True"
    return ContextChunk(
        "pkg/mod.py",
        10,
        12 + lines,
        name,
        "function",
        "symbol",
        1.0,
        text,
        f"def {name}(data: dict, retries: int = 3) -> bool:",
        name,
        language="python",
    )


CLASS_TEXT = '''class Session(Base):
    """A session."""

    def __init__(self, url: str) -> None: ...

    def send(self, request, **kwargs): ...

    async def close(self): ...
'''


def test_approx_tokens_is_chars_over_three_and_a_half():
    assert approx_tokens("") == 0
    assert approx_tokens("x" * 35) == 10
    assert approx_tokens("x" * 36) == 11


def test_everything_whole_when_the_budget_is_ample():
    chunks = [function("alpha", 3), function("beta", 3)]
    fitted = fit_budget(chunks, 10_000)
    assert [c.text for c in fitted] == [c.text for c in chunks]
    assert not any(c.compact for c in fitted)


def test_tight_budget_prefers_signatures_and_never_overflows():
    chunks = [function(f"f{i}") for i in range(12)]
    whole = approx_tokens(chunks[0].text)
    budget = whole  # room for one body at most, but a half-share rule keeps room for the rest
    fitted = fit_budget(chunks, budget)
    assert total_tokens(fitted) <= budget
    assert len(fitted) > 1
    assert all(c.compact for c in fitted)
    assert fitted[0].text.startswith("def f0(data: dict, retries: int = 3) -> bool:")
    assert fitted[0].text.endswith("...")
    assert [c.id for c in fitted] == [f"f{i}" for i in range(len(fitted))]  # order kept


def test_small_first_chunk_whole_then_signatures():
    chunks = [function("small", 2)] + [function(f"big{i}") for i in range(5)]
    fitted = fit_budget(chunks, 400)
    assert not fitted[0].compact
    assert all(c.compact for c in fitted[1:])
    assert total_tokens(fitted) <= 400


def test_class_compacts_to_an_outline_of_member_headers():
    cls = ContextChunk(
        "pkg/s.py",
        1,
        9,
        "Session",
        "class",
        "symbol",
        1.0,
        CLASS_TEXT,
        "class Session(Base):",
        "cls",
        language="python",
    )
    outline = compact_text(cls)
    assert outline.split("\n") == [
        "class Session(Base):",
        "    def __init__(self, url: str) -> None: ...",
        "    def send(self, request, **kwargs): ...",
        "    async def close(self): ...",
    ]


def test_custom_tokenizer_and_max_chunks():
    chunks = [function(f"f{i}", 2) for i in range(6)]
    words = lambda text: len(text.split())  # noqa: E731
    fitted = fit_budget(chunks, 10_000, tokenizer=words, max_chunks=3)
    assert len(fitted) == 3
    assert total_tokens(fitted, words) <= 10_000


def test_nothing_fits_a_zero_budget():
    assert fit_budget([function("f")], 0) == []
