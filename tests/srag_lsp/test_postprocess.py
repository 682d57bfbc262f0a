"""Post-processing: line vs block by context, stop sequences, indentation, block end, suffix repeats, brackets.

When the cursor stands in a line's indentation the prompt leaves that whitespace out, so the model writes whole
lines, indentation included: the raw texts below are written that way.
"""

from __future__ import annotations

from srag_lsp.completion.postprocess import cut_at_stops, decide_shape, finish, first_line_ready


def test_mid_line_is_single_line() -> None:
    shape = decide_shape("x = compute(", "a, b)\n")
    assert not shape.multiline
    assert finish("1, 2\nmore", shape, []) == "1, 2"


def test_empty_body_is_multi_line_and_stops_at_block_end() -> None:
    shape = decide_shape("def f(x):\n    ", "\n\ndef g():\n    pass\n")
    assert shape.multiline
    raw = "    y = x + 1\n    return y\n\ndef h():\n    pass"
    assert finish(raw, shape, []) == "y = x + 1\n    return y"


def test_after_block_opener_keeps_the_body_and_closing_bracket() -> None:
    shape = decide_shape("function f(a) {", "\n")
    assert shape.multiline
    assert finish("\n  return a + 1;\n}\nconst z = 1;", shape, []) == "\n  return a + 1;\n}"


def test_stop_sequences_cut() -> None:
    assert cut_at_stops("abc<|endoftext|>def", ["<|endoftext|>"]) == ("abc", True)
    shape = decide_shape("x = ", "\n")
    assert finish("42<|file_sep|>junk", shape, ["<|file_sep|>"]) == "42"


def test_text_repeating_the_rest_of_the_line_is_trimmed() -> None:
    shape = decide_shape("total = price * ", "quantity\n")
    assert finish("1.2 * quantity", shape, []) == "1.2 * "


def test_text_that_only_starts_the_rest_of_the_line_suggests_nothing() -> None:
    shape = decide_shape("", '"""Checkout: the total."""\n')
    assert finish('"""Checkout: the', shape, []) == ""  # cut short, it would insert a copy of what follows
    assert finish('"""Checkout: the total."""', shape, []) == ""
    assert finish("import sys", shape, []) == "import sys"


def test_closer_supplied_by_suffix_is_not_doubled() -> None:
    shape = decide_shape("print(len(items", ")\n")
    assert finish("))", shape, []) == ")"


def test_repeat_of_the_next_line_is_trimmed() -> None:
    shape = decide_shape("def f():\n    ", "\n    return result\n")
    assert finish("    result = 1\n    return result", shape, []) == "result = 1"
    # On a blank line, a suggestion that starts by writing the line below it suggests nothing.
    assert finish("    return result", shape, []) == ""


def test_first_line_ready() -> None:
    shape = decide_shape("def f():\n    ", "\n")
    assert not first_line_ready("x = 1", shape)
    assert first_line_ready("x = 1\n", shape)


def test_restated_line_prefix_is_dropped() -> None:
    shape = decide_shape("    discounted = ", "\n")
    assert finish("discounted = apply_discount(subtotal, 5)", shape, []) == "apply_discount(subtotal, 5)"
    # A completion that merely starts the same way as a short prefix is left alone.
    assert finish("x + 1", decide_shape("x", "\n"), []) == "x + 1"


def test_indentation_is_relative_to_the_cursor_column() -> None:
    """The most reported autocomplete bug: text indented twice once inserted (continue#1032, neovim#32972)."""
    with_block = "def load(path):\n    with open(path) as f:\n        "
    shape = decide_shape(with_block, "\n")
    assert finish("        config = json.load(f)", shape, []) == "config = json.load(f)"
    # The model indents deeper than the cursor stands: the missing part is inserted.
    assert finish("            config = json.load(f)", shape, []) == "    config = json.load(f)"
    # The cursor at column 0 inside a body: the model's indentation is kept.
    at_zero = decide_shape("def f(x):\n", "\n")
    assert finish("    return x + 1", at_zero, []) == "    return x + 1"
    # The model indents less than the cursor stands: the cursor wins, later lines keep their relative indent.
    shape = decide_shape("def f(x):\n    if x:\n        ", "\n")
    assert finish("    for i in x:\n        print(i)", shape, []) == "for i in x:\n            print(i)"


def test_tabs_are_indentation_too() -> None:
    shape = decide_shape("def f(x):\n\t", "\n")
    assert finish("\treturn x", shape, []) == "return x"


def test_mid_line_text_is_not_reindented() -> None:
    shape = decide_shape("    total = ", "\n")
    assert finish("  price * 2", shape, []) == "  price * 2"
