"""Ranking signals that hold in any codebase, on a small workspace indexed with the real builder: a name
matching a local or parameter, an imported object used as a receiver, the definition rather than its module's
chunk, JavaScript default imports and module-level ``var`` bindings, the words of a definition's docstring, and
dict keys and option names in strings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer.query import IndexReader
from srag_lsp.retrieval.cursor import CursorAnalyzer
from srag_lsp.retrieval.index_access import build_index
from srag_lsp.retrieval.retriever import Retriever
from srag_lsp.retrieval.sources import FtsSource, ImportsSource, SymbolSource
from srag_lsp.retrieval.types import ContextChunk, CursorQuery
from srag_lsp.retrieval.workspace_modules import WorkspaceModules

FILES = {
    "net/__init__.py": "",
    "net/urls.py": "class URL:\n    def __init__(self, raw: str) -> None:\n        self.raw = raw\n",
    "net/headers.py": (
        "class Headers:\n    def __init__(self, items=None) -> None:\n        self.items = dict(items or {})\n"
    ),
    "net/status.py": (
        "import enum\n\n\nclass codes(enum.IntEnum):\n    OK = 200\n\n"
        "    @classmethod\n    def get_reason_phrase(cls, value: int) -> str:\n        return 'OK'\n"
    ),
    "net/streams.py": (
        "from typing import Union\n\nSTREAM_TYPES = ('sync', 'async')\nContent = Union[str, bytes]\n\n\n"
        "class AsyncByteStream:\n    async def __aiter__(self):\n        yield b''\n"
    ),
    "net/context.py": "class Context:\n    def __init__(self) -> None:\n        self.depth = 0\n",
    "net/client.py": (
        "from .headers import Headers\nfrom .status import codes\nfrom .streams import AsyncByteStream\n"
        "from .urls import URL\nfrom .context import Context\n\n\n"
        "def nested(ctx: Context) -> int:\n    return ctx.depth\n\n\n"
        "def send(url, headers):\n    target = URL(url)\n    headers = Headers(headers)\n    return target\n\n\n"
        "def reason(status: int) -> str:\n    return codes.get_reason_phrase(status)\n\n\n"
        "def check(request) -> None:\n    assert isinstance(request.stream, AsyncByteStream)\n"
    ),
    "net/auth.py": (
        'def host_of(url):\n    """The host a URL names."""\n    return url\n\n\n'
        'def split_credentials(url):\n    """The username and password that a URL carries."""\n    return url, url\n'
    ),
    "net/markers.py": 'LINE_PREFIX = "#"\nBLOCK_PREFIX = "{%"\n',
    "net/session.py": (
        "from . import markers\nfrom .auth import host_of, split_credentials\n\n\n"
        "def login(url):\n    username, password = split_credentials(url)\n    return username\n\n\n"
        "def marker_of(options):\n    return options.get(\"block_prefix\") or markers.BLOCK_PREFIX\n"
    ),
    "web/_getNative.js": "function getNative(object, key) {\n  return object[key];\n}\n\nexport default getNative;\n",
    "web/_root.js": "var root = globalThis;\n\nexport default root;\n",
    "web/_Map.js": (
        "import getNative from './_getNative.js';\nimport root from './_root.js';\n\n"
        "var Map = getNative(root, 'Map');\n\nexport default Map;\n"
    ),
    "web/mapCache.js": (
        "import Map from './_Map.js';\nimport getNative from './_getNative.js';\n\n"
        "function mapCache() {\n  return new Map();\n}\n\nexport default mapCache;\n"
    ),
}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, IndexReader]]:
    root = tmp_path_factory.mktemp("ranking")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index_dir = tmp_path_factory.mktemp("ranking-index")
    build_index(root, str(index_dir))
    reader = IndexReader.open(str(index_dir))
    assert reader is not None
    yield root, reader


def cut_before(path: str, needle: str, skip: str = "") -> CursorQuery:
    """The file cut at the start of ``skip + needle``'s ``needle`` part (prefix only)."""
    text = FILES[path]
    prefix = text[: text.index(skip + needle) + len(skip)]
    lines = prefix.split("\n")
    return CursorQuery(path, prefix, len(lines) - 1, len(lines[-1]))


def imports_ranked(workspace: tuple[Path, IndexReader], ctx: CursorQuery) -> list[ContextChunk]:
    root, reader = workspace
    source = ImportsSource(lambda: reader)
    analysis = CursorAnalyzer(WorkspaceModules(root)).analyze(ctx)
    source.prefetch(analysis)  # as when the document was opened
    source.drain()
    return source.run(analysis, ctx, 8)


def test_a_name_matching_a_parameter_case_insensitively_comes_first(workspace):
    chunks = imports_ranked(workspace, cut_before("net/client.py", "Headers(headers)", "    headers = "))
    assert chunks[0].symbol == "Headers" and chunks[0].path == "net/headers.py"


def test_the_class_itself_not_its_modules_chunk(workspace):
    chunks = imports_ranked(workspace, cut_before("net/client.py", "AsyncByteStream)", "request.stream, "))
    first = next(c for c in chunks if c.path == "net/streams.py")
    assert first.symbol == "AsyncByteStream" and first.kind == "class"
    assert chunks[0].symbol == "AsyncByteStream"  # isinstance(x, wants a class


async def test_an_imported_lowercase_class_as_receiver_gives_its_members(workspace):
    root, reader = workspace
    ctx = cut_before("net/client.py", "get_reason_phrase(status)", "codes.")
    analysis = CursorAnalyzer(WorkspaceModules(root)).analyze(ctx)
    assert analysis.receiver_class == "codes"
    typed = cut_before("net/client.py", "reason_phrase(status)", "codes.get_")
    chunks = SymbolSource(lambda: reader).run(CursorAnalyzer(WorkspaceModules(root)).analyze(typed), typed, 8)
    assert chunks[0].qualified_name == "codes.get_reason_phrase"
    retriever = Retriever(root, reader=reader)
    try:
        result = await retriever.retrieve(ctx, deadline_ms=1000)
    finally:
        retriever.close()
    assert result.chunks[0].path == "net/status.py" and result.chunks[0].symbol == "codes"  # holds the member


def test_javascript_default_imports_and_module_level_var_bindings(workspace):
    chunks = imports_ranked(workspace, cut_before("web/mapCache.js", "Map();", "return new "))
    found = {c.symbol or "(module)": c.path for c in chunks}
    assert found.get("getNative") == "web/_getNative.js"  # a default import, by its local name
    assert "web/_Map.js" in found.values()  # `var Map = ...` is a module-level binding, not a definition
    assert chunks[0].path == "web/_Map.js"  # `new` wants a class-like name: the one used just below


def test_full_text_runs_only_where_imports_cannot_lead(workspace):
    root, reader = workspace
    analyzer = CursorAnalyzer(WorkspaceModules(root))
    imported = analyzer.analyze(cut_before("net/client.py", "Headers(headers)", "    headers = "))
    assert not FtsSource.needed(imported)
    assert FtsSource(lambda: reader).run(imported, None, 8) == []
    text = "def reason_of(status):\n    return status.get_reason_phrase(\n"
    standalone = analyzer.analyze(CursorQuery("scratch.py", text, 2, 0))
    assert FtsSource.needed(standalone)
    assert any(c.path == "net/status.py" for c in FtsSource(lambda: reader).run(standalone, None, 8))


def test_the_partial_identifier_rules_other_imports_out(workspace):
    ctx = cut_before("net/client.py", "Headers(headers)", "    headers = ")
    assert imports_ranked(workspace, ctx)[0].symbol == "Headers"
    typed = CursorQuery(ctx.path, ctx.text + "As", ctx.line, ctx.col + 2)
    assert imports_ranked(workspace, typed)[0].symbol == "AsyncByteStream"


def test_a_parameter_being_annotated_names_its_type_in_full_or_abbreviated(workspace):
    chunks = imports_ranked(workspace, cut_before("net/client.py", "Context) -> int", "def nested(ctx: "))
    assert chunks[0].symbol == "Context"


def test_the_words_of_a_docstring_rank_a_definition_whose_name_does_not_say_it(workspace):
    chunks = imports_ranked(workspace, cut_before("net/session.py", "split_credentials(url)", "password = "))
    assert [c.symbol for c in chunks[:2]] == ["split_credentials", "host_of"]  # host_of is imported first


def test_a_dict_key_in_a_string_names_the_member_that_comes_next(workspace):
    chunks = imports_ranked(workspace, cut_before("net/session.py", "BLOCK_PREFIX\n", "markers."))
    assert chunks[0].symbol == "BLOCK_PREFIX"  # LINE_PREFIX is defined first
