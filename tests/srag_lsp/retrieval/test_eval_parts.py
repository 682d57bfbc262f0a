"""The evaluation's parts: the cross-file case builder and the BM25-over-windows baseline."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from benchmarks.bm25_windows import WindowIndex, query_for, tokens
from benchmarks.retrieval_cases import Definition, all_cases, answer_rank, sample_cases

PACKAGE = {
    "__init__.py": "from .models import Order\n",
    "models.py": "class Order:\n    def total(self):\n        return 1\n\n\nLIMIT = 10\n",
    "compat.py": "str = str\nbasestring = (str, bytes)\n",
    "utils.py": "def slug(text):\n    return text.lower()\n",
    "api.py": (
        "from . import utils\n"
        "from .compat import basestring, str\n"
        "from .models import LIMIT, Order\n"
        "\n"
        "\n"
        "def make(n):\n"
        "    if n > LIMIT:\n"
        "        return Order()\n"
        "    return utils.slug(str(n))\n"
        "\n"
        "\n"
        "def shadow(Order):\n"
        "    return Order\n"
        "\n"
        "\n"
        "def check(x):\n"
        "    return isinstance(x, basestring)\n"
    ),
    "cli.py": "from shop import Order\n\n\ndef main():\n    return Order()\n",
}


def write_package(root: Path) -> Path:
    root.mkdir(parents=True)
    for name, text in PACKAGE.items():
        (root / name).write_text(text)
    return root


def test_cases_are_cross_module_uses_with_prefix_only_buffers(tmp_path: Path):
    root = write_package(tmp_path / "shop")
    cases = all_cases(root, "shop")
    by_key = {(c.file, c.name, c.line): c for c in cases}
    limit = by_key[("api.py", "LIMIT", 7)]
    assert limit.form == "name" and (limit.line, limit.col) == (7, 12)
    assert limit.answer == Definition("models.py", "LIMIT", 6, 6)
    assert limit.text.endswith("def make(n):\n    if n > ") and "LIMIT:" not in limit.text.split("\n")[-1]
    order = by_key[("api.py", "Order", 8)]
    assert order.answer == Definition("models.py", "Order", 1, 3)
    slug = by_key[("api.py", "slug", 9)]
    assert slug.form == "attribute" and slug.text.endswith("return utils.")
    assert slug.answer.path == "utils.py"
    # an absolute import through the package's re-export resolves to the real definition
    assert by_key[("cli.py", "Order", 5)].answer.path == "models.py"
    # a parameter that shadows the import, and names that re-bind builtins, are no cases
    assert ("api.py", "Order", 13) not in by_key
    assert not any(c.name == "str" for c in cases)
    assert by_key[("api.py", "basestring", 17)].answer.path == "compat.py"
    # import lines themselves are no cases
    assert all(c.line > 3 for c in cases if c.file == "api.py")


def test_sampling_is_seeded_and_ordered(tmp_path: Path):
    cases = all_cases(write_package(tmp_path / "shop"), "shop")
    first, again = sample_cases(cases, 3, seed=5), sample_cases(cases, 3, seed=5)
    assert [(c.file, c.line, c.col) for c in first] == [(c.file, c.line, c.col) for c in again]
    assert first == sorted(first, key=lambda c: (c.file, c.line, c.col))
    assert len(sample_cases(cases, 1000, seed=5)) == len(cases)


def test_answer_rank_counts_a_chunk_that_holds_the_definition_line():
    answer = Definition("models.py", "Order", 10, 30)
    chunk = lambda path, a, b: SimpleNamespace(path=path, start_line=a, end_line=b)  # noqa: E731
    assert answer_rank([chunk("models.py", 1, 9), chunk("models.py", 5, 12)], answer) == 2
    assert answer_rank([chunk("other.py", 1, 99), chunk("models.py", 11, 30)], answer) is None


def test_bm25_windows_rank_rare_shared_words_and_skip_the_current_file():
    files = {
        "a.py": "\n".join(["def parse_header(value):", "    return value.split(';')"] + ["pass"] * 30),
        "b.py": "\n".join(["pass"] * 25 + ["def compute_checksum(blob):", "    return crc(blob)"]),
        "c.py": "\n".join(["x = compute_checksum(data)"] * 3),
    }
    index = WindowIndex(files, window=20, stride=10)
    # 20-line windows every 10 lines, the last one running to the end of the file
    assert [(w.path, w.start_line, w.end_line) for w in index.windows if w.path == "b.py"] == [
        ("b.py", 1, 20),
        ("b.py", 11, 27),
    ]
    hits = index.search("checksum = compute_checksum(blob)", exclude_path="c.py", k=2)
    assert [(h.path, h.start_line) for h in hits] == [("b.py", 11)]  # only windows sharing a word score
    assert all(h.path != "c.py" for h in index.search("compute_checksum", exclude_path="c.py"))
    assert index.search("nothing_matches_this") == []
    assert tokens("parseHTTP_value x1") == ["parsehttp_value", "x1"]
    assert query_for("\n".join(str(i) for i in range(50)), 20).split("\n")[0] == "30"
