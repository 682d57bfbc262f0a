"""Identifier splitting and the full-text token string."""

from __future__ import annotations

import pytest

from indexer.identifiers import split_identifier, token_string


@pytest.mark.parametrize(
    ("identifier", "words"),
    [
        ("parseHTTPResponse_v2", ["parse", "http", "response", "v2"]),
        ("snake_case_name", ["snake", "case", "name"]),
        ("camelCase", ["camel", "case"]),
        ("PascalCase", ["pascal", "case"]),
        ("HTTPServer", ["http", "server"]),
        ("HTTP2Server", ["http2", "server"]),
        ("utf8Decode", ["utf8", "decode"]),
        ("IOError", ["io", "error"]),
        ("getX", ["get", "x"]),
        ("MAX_SIZE", ["max", "size"]),
        ("__init__", ["init"]),
        ("_private", ["private"]),
        ("x86_64", ["x86", "64"]),
        ("v2", ["v2"]),
        ("A", ["a"]),
        ("grüßeWelt", ["grüße", "welt"]),
        ("名前", ["名前"]),
        ("", []),
        ("___", []),
        ("$scope", ["scope"]),
    ],
)
def test_split_identifier(identifier: str, words: list[str]) -> None:
    assert split_identifier(identifier) == words


def test_token_string_has_subwords_then_whole_identifiers_once() -> None:
    tokens = token_string(["parseHTTPResponse", "parse", "TextWrapper", "wrap", "max_lines"])
    assert tokens.split() == [
        "parse",
        "http",
        "response",
        "parsehttpresponse",
        "text",
        "wrapper",
        "textwrapper",
        "wrap",
        "max",
        "lines",
        "max_lines",
    ]


def test_token_string_of_nothing_is_empty() -> None:
    assert token_string([]) == ""
    assert token_string(["__", ""]) == ""


def test_token_string_is_lowercase() -> None:
    assert token_string(["CONSTANT_NAME", "XMLParser"]) == token_string(["constant_name", "XMLParser"]).lower()
    assert token_string(["XMLParser"]) == "xml parser xmlparser"
