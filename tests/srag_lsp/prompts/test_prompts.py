"""Prompt templates: chosen by model name, FIM where the family has it, stable context first."""

from __future__ import annotations

import pytest

from srag_lsp.prompts import ContextSnippet, PromptParts, build_prompt, resolve_template, template_for_model


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("qwen2.5-coder:1.5b-base", "qwen"),
        ("qwen2.5-coder-0.5b", "qwen"),
        ("codellama:7b-code", "codellama"),
        ("deepseek-coder:1.3b-base", "deepseek"),
        ("starcoder2:3b", "starcoder"),
        ("codegemma:2b", "codegemma"),
        ("codestral:22b", "codestral"),
        ("gemma3-270m", "prefix"),
        ("llama3.2", "prefix"),
    ],
)
def test_template_by_model_name(model: str, family: str) -> None:
    assert template_for_model(model) == family


def test_setting_overrides_model_name() -> None:
    assert resolve_template("codellama", "qwen2.5-coder") == "codellama"
    assert resolve_template("auto", "qwen2.5-coder") == "qwen"


def parts(context: list[ContextSnippet] | None = None) -> PromptParts:
    return PromptParts(prefix="def f(x):\n    return ", suffix="\n\nprint(f(2))\n", path="pkg/a.py",
                       language="python", context=context or [])


def test_qwen_fim_order_context_then_prefix_then_suffix() -> None:
    p = build_prompt("qwen", parts([ContextSnippet("pkg/b.py", "def helper(y):\n    return y * 2")]))
    assert p.fim
    ctx = p.text.index("def helper")
    pre = p.text.index("<|fim_prefix|>")
    suf = p.text.index("<|fim_suffix|>")
    mid = p.text.index("<|fim_middle|>")
    assert ctx < pre < suf < mid and p.text.endswith("<|fim_middle|>")
    assert "<|file_sep|>pkg/b.py" in p.text and "<|endoftext|>" in p.stop


def test_prompt_with_more_prefix_extends_previous_prompt_up_to_the_suffix() -> None:
    """A keystroke changes only the tail: the stable part is a common prefix (KV cache reuse)."""
    a = build_prompt("qwen", parts())
    b_parts = parts()
    b_parts.prefix += "x"
    b = build_prompt("qwen", b_parts)
    common = a.text.split("<|fim_suffix|>")[0]
    assert b.text.startswith(common)


def test_prefix_only_template_puts_context_in_comments() -> None:
    p = build_prompt("prefix", parts([ContextSnippet("pkg/b.py", "def helper(y):\n    return y * 2")]))
    assert not p.fim
    assert p.text.startswith("# From pkg/b.py:\n# def helper(y):")
    assert p.text.endswith("def f(x):\n    return ")
    assert "print(f(2))" not in p.text


@pytest.mark.parametrize("family", ["codellama", "deepseek", "starcoder", "codegemma", "codestral"])
def test_every_fim_family_contains_prefix_and_suffix(family: str) -> None:
    p = build_prompt(family, parts())
    assert p.fim and "return " in p.text and "print(f(2))" in p.text and p.stop


def test_qwen_uses_the_repository_format_it_was_trained_on() -> None:
    context = [ContextSnippet("pkg/b.py", "def helper(y):\n    return y * 2"),
               ContextSnippet("pkg/c.py", "class Box: ..."),
               ContextSnippet("pkg/b.py", "def other(z): ...")]
    p = build_prompt("qwen", PromptParts(prefix="x = ", suffix="", path="pkg/a.py", language="python",
                                         context=context, repo="myrepo"))
    assert p.text == ("<|repo_name|>myrepo\n"
                      "<|file_sep|>pkg/b.py\ndef helper(y):\n    return y * 2\n\ndef other(z): ...\n"
                      "<|file_sep|>pkg/c.py\nclass Box: ...\n"
                      "<|file_sep|>pkg/a.py\n<|fim_prefix|>x = <|fim_suffix|><|fim_middle|>")


def test_qwen_draft_and_context_prompts_share_their_start() -> None:
    """Without context the prompt still names the repository and the file, in the same format."""
    p = build_prompt("qwen", PromptParts(prefix="x = ", suffix="", path="pkg/a.py", language="python", repo="r"))
    assert p.text == "<|repo_name|>r\n<|file_sep|>pkg/a.py\n<|fim_prefix|>x = <|fim_suffix|><|fim_middle|>"
