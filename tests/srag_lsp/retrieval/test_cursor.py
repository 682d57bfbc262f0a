"""Cursor analysis on real code: identifiers in play, the partial identifier, the enclosing scope, imports."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from srag_lsp.retrieval.cursor import CursorAnalyzer
from srag_lsp.retrieval.imports import ImportBinding
from srag_lsp.retrieval.types import CursorQuery
from srag_lsp.retrieval.workspace_modules import WorkspaceModules
from tests.srag_lsp.retrieval.sample_workspace import FILES, insert_at, position, write_sample_workspace

HTTPX = Path(httpx.__file__).parent  # a real, installed package with relative imports


@pytest.fixture(scope="module")
def httpx_analyzer() -> CursorAnalyzer:
    return CursorAnalyzer(WorkspaceModules(HTTPX))


@pytest.fixture
def shop(tmp_path: Path) -> CursorAnalyzer:
    write_sample_workspace(tmp_path)
    return CursorAnalyzer(WorkspaceModules(tmp_path))


def binding(analysis, local: str) -> ImportBinding:
    found = analysis.import_for(local)
    assert found is not None, f"no import binds {local}"
    return found


def test_real_method_scope_names_members_and_imports(httpx_analyzer: CursorAnalyzer):
    text = (HTTPX / "_client.py").read_text()
    line, col = position(text, "response = self._send_handling_auth(")
    a = httpx_analyzer.analyze(CursorQuery("_client.py", text, line, col))
    assert a.language == "python"
    assert a.scope == "Client.send"
    assert (a.enclosing_class, a.enclosing_function) == ("Client", "send")
    assert a.class_bases == ["BaseClient"]
    assert a.partial == "" and a.receiver == ""
    # parameters are local: not looked up; their annotated classes are known
    assert {"request", "stream", "auth", "follow_redirects"} <= a.local_names
    assert a.local_types["request"] == "Request"
    assert "request" not in a.names and "self" not in a.names and "RuntimeError" not in a.names
    assert "ClientState" in a.names and "UseClientDefault" in a.names
    # self.<member> in the window becomes Client.<member> (and the base class's)
    assert "Client._build_request_auth" in a.members
    assert "BaseClient._build_request_auth" in a.members
    assert a.members.index("Client._build_request_auth") < a.members.index("Client._set_timeout")  # nearest first
    # words of the docstring are not identifiers in play
    assert "unmodified" not in a.names and "Typically" not in a.names
    # imports resolved to workspace files
    assert binding(a, "Request").paths == ("_models.py",)
    assert binding(a, "BaseTransport").paths == ("_transports/base.py",)
    assert binding(a, "Request").name == "Request" and not binding(a, "Request").is_module
    assert a.window_before.rstrip().endswith("auth = self._build_request_auth(request, auth)")


def test_partial_identifier_after_self_is_a_member_of_the_class(httpx_analyzer: CursorAnalyzer):
    original = (HTTPX / "_client.py").read_text()
    text, line, _col = insert_at(original, "response = self._send_handling_auth(", "self._bu\n        ")
    line, col = line - 1, len("        self._bu")
    a = httpx_analyzer.analyze(CursorQuery("_client.py", text, line, col))
    assert a.partial == "_bu"
    assert a.receiver == "self"
    assert a.receiver_class == "Client"
    assert a.scope == "Client.send"


def test_receiver_types_from_assignments_annotations_and_self_attributes(shop: CursorAnalyzer):
    original = FILES["shop/api.py"]
    # obj = Cls(...) in the function: checkout.<partial>
    text, line, _col = insert_at(original, "    return checkout.receipt()", "    checkout.rec\n")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, len("    checkout.rec")))
    assert (a.partial, a.receiver, a.receiver_class) == ("rec", "checkout", "Checkout")
    assert a.scope == "place_order"
    assert "Checkout.add" in a.members  # checkout.add(...) on the line above
    # self.order was assigned Order(...) in __init__: self.order.<cursor>
    text, line, _col = insert_at(original, "        if coupon:", "        self.order.\n")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, len("        self.order.")))
    assert (a.partial, a.receiver, a.receiver_class) == ("", "self.order", "Order")
    assert a.scope == "Checkout.receipt"
    assert "Order.total" in a.members
    # an annotated parameter: customer: Customer
    text, line, _col = insert_at(original, "    checkout = Checkout(customer)", "    customer.gr\n")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, len("    customer.gr")))
    assert a.receiver_class == "Customer"


def test_module_receiver_and_relative_imports(shop: CursorAnalyzer):
    original = FILES["shop/api.py"]
    text, line, _col = insert_at(original, "        return utils.format_money(total)", "        utils.sl\n")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, len("        utils.sl")))
    assert a.receiver == "utils"
    assert a.receiver_module is not None
    assert a.receiver_module.paths == ("shop/utils.py",) and a.receiver_module.is_module
    assert binding(a, "Order").paths == ("shop/models.py",)
    assert binding(a, "apply_coupon").paths == ("shop/pricing.py",)
    assert not any(m == "format_money" for _, m, _ in a.module_members)  # used after the cursor only
    assert a.name_after["format_money"] == 1 and "format_money" not in a.name_distance
    # the imported names used before the cursor are in play, nearest first
    assert a.names.index("apply_coupon") < a.names.index("discount_for")


def test_blank_indented_line_after_a_method_is_in_the_class(shop: CursorAnalyzer):
    text = FILES["shop/api.py"]
    line, _ = position(text, "    def add(self")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, 4))  # the blank line above `def add`
    assert a.scope == "Checkout"
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, 0))
    assert a.scope == "Checkout"  # the class goes on below: a blank line does not end it
    line, _ = position(text, "def place_order(")
    a = shop.analyze(CursorQuery("shop/api.py", text, line - 1, 0))
    assert a.scope == ""


def test_absolute_imports_resolve_in_a_repository_layout(tmp_path: Path):
    (tmp_path / "src" / "shop").mkdir(parents=True)
    (tmp_path / "src" / "shop" / "__init__.py").write_text("")
    (tmp_path / "src" / "shop" / "models.py").write_text("class Order: ...\n")
    (tmp_path / "src" / "shop" / "vendor").mkdir()
    (tmp_path / "src" / "shop" / "vendor" / "__init__.py").write_text("")
    (tmp_path / "src" / "shop" / "vendor" / "requests.py").write_text("def get(): ...\n")
    text = "import requests\nimport shop.models as m\nfrom shop.models import Order\nfrom shop import models\n\nx = "
    analyzer = CursorAnalyzer(WorkspaceModules(tmp_path))
    a = analyzer.analyze(CursorQuery("src/app.py", text, 5, 4))
    assert binding(a, "Order").paths == ("src/shop/models.py",)
    assert binding(a, "m").paths == ("src/shop/models.py",) and binding(a, "m").is_module
    assert binding(a, "models").paths == ("src/shop/models.py",) and binding(a, "models").is_module
    # a package's inner module is not the top-level third-party module of the same name
    assert binding(a, "requests").paths == ()


def test_typescript_imports_and_scope(shop: CursorAnalyzer):
    original = FILES["web/app.ts"]
    text, line, _col = insert_at(original, "  return formatMoney(cart.total());", "  cart.to\n")
    a = shop.analyze(CursorQuery("web/app.ts", text, line - 1, len("  cart.to")))
    assert a.language == "typescript"
    assert a.scope == "checkout"
    assert (a.partial, a.receiver, a.receiver_class) == ("to", "cart", "Cart")
    assert binding(a, "formatMoney").paths == ("web/money.ts",)
    assert binding(a, "money").paths == ("web/money.ts",) and binding(a, "money").is_module
    assert binding(a, "legacy").paths == ("web/legacy.js",)
    assert "Cart.add" in a.members


def test_reparse_is_incremental_after_a_keystroke(shop: CursorAnalyzer):
    text = FILES["shop/api.py"]
    line, col = position(text, "(total)", len("(total"))
    first = shop.analyze(CursorQuery("shop/api.py", text, line, col))
    typed = text.replace("(total)", "(totalx)")
    second = shop.analyze(CursorQuery("shop/api.py", typed, line, col + 1))
    assert not first.incremental
    assert second.incremental
    assert second.scope == "Checkout.receipt"
    assert second.partial == "totalx" and second.receiver == ""


def test_positions_past_the_end_are_clamped_and_unknown_languages_work(shop: CursorAnalyzer):
    a = shop.analyze(CursorQuery("notes.txt", "alpha beta\ngamma_delta", 99, 99))
    assert (a.line, a.col) == (1, len("gamma_delta"))
    assert a.language is None and a.scopes == []
    assert a.partial == "gamma_delta"
    assert "alpha" in a.names


def test_syntax_errors_still_give_an_analysis(shop: CursorAnalyzer):
    text = "from .models import Order\n\ndef broken(:\n    order = Order(\n    order."
    a = shop.analyze(CursorQuery("shop/broken.py", text, 4, len("    order.")))
    assert binding(a, "Order").paths == ("shop/models.py",)
    assert a.receiver == "order"


def test_string_keys_stay_in_the_words_around_the_cursor_but_sentences_and_comments_do_not(shop: CursorAnalyzer):
    text = (
        "def configure(options):\n"
        "    # the line_marker comment\n"
        '    message = "a sentence about block_marker"\n'
        '    return options["line_prefix"] or '
    )
    lines = text.split("\n")
    a = shop.analyze(CursorQuery("shop/config.py", text, len(lines) - 1, len(lines[-1])))
    assert "line_prefix" in a.window_keys
    assert "line_marker" not in a.window_keys and "block_marker" not in a.window_keys
    assert "line_prefix" not in a.window_before  # strings stay masked where names are counted as used
