"""Token healing and the confidence cut, offline: the first keys of a line, greedy text from the draft's prompt.

For lines of the four packages we tune on (requests, flask, jinja2, werkzeug; the editor benchmark's packages stay
out of this loop), at each of the first 16 keys (the line cleared to its indentation, then its first characters
typed), the draft's prompt (12 lines before the cursor, the rest of the line after it, empty here) is given to the
embedded model, which writes greedily to the end of the line while the probability of each token it chooses is
kept. The text is post-processed as the engine does and scored like the editor benchmark: on screen (non-empty),
right (the rest of the line starts with it), right characters (its common start with the rest of the line). It is
scored without healing, with healing, and with healing and each confidence cut (the text ends before the first
token, after the first visible one, chosen with a probability below the cut). No typing through, no timing: which
text each setting would show, not when.

    .venv/bin/python -m benchmarks.bench_confidence [--lines 24] [--cuts 0.3 0.4 0.5 0.6 0.7]

Prints the table; writes benchmarks/results/confidence.json and confidence.png.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.bench_typing import TUNED, LineCase, pick_lines
from benchmarks.report import save
from benchmarks.retrieval_cases import install_packages
from srag_lsp.common_prefix import common_prefix_length
from srag_lsp.completion.postprocess import decide_shape, finish
from srag_lsp.models import llama_kv
from srag_lsp.models.catalog import ensure_model
from srag_lsp.models.forced_start import ForcedStart, VocabIndex
from srag_lsp.models.llama_slots import common_token_prefix
from srag_lsp.prompts import PromptParts, build_prompt
from srag_lsp.prompts.partial_token import split_partial_token
from srag_lsp.settings import Settings

KEYS = 16
MAX_TOKENS = 24
Piece = tuple[str, float]  # a visible piece of text and the probability of the token that wrote it


def generate(llm: Any, prompt: str, forced: str, index: VocabIndex) -> list[Piece]:
    """Greedy tokens to the end of the line: the visible text of each and its probability (after the mask)."""
    tokens = list(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))
    common = min(common_token_prefix(llama_kv.held_tokens(llm), tokens), len(tokens) - 1)
    llama_kv.keep_prefix(llm, common)
    start = ForcedStart(forced, index)
    is_eog = llama_kv.end_of_generation(llm)
    feed, pieces = tokens[common:], []
    for _ in range(MAX_TOKENS):
        llm.eval(feed)
        logits = start(None, llama_kv.last_logits(llm))
        token = int(np.argmax(logits))
        p = float(1.0 / np.sum(np.exp(logits - logits[token])))
        text = start.consume(bytes(llm.detokenize([token], special=True)))
        feed = [token]
        if is_eog(token) or b"<|" in text:
            break
        if text:
            pieces.append((text.decode("utf-8", "replace"), p))
            if "\n" in pieces[-1][0]:
                break
    return pieces


def shown(pieces: list[Piece], prefix: str, cut: float) -> str:
    """The first line the engine would show: the text up to the cut, post-processed."""
    raw, visible = "", False
    for text, p in pieces:
        if cut > 0 and visible and p < cut:
            break
        raw += text
        visible = visible or bool(raw.strip())
    return finish(raw, decide_shape(prefix, "\n"), ["<|endoftext|>", "<|file_sep|>"]).split("\n")[0]


def score(rows: list[dict[str, Any]], healed: bool, cut: float) -> dict[str, float]:
    on = right = chars = 0
    for row in rows:
        text = shown(row["healed" if healed else "plain"], row["prefix"], cut)
        if text.strip():
            on += 1
            right += row["rest"].startswith(text)
            chars += common_prefix_length(text, row["rest"])
    n = max(1, len(rows))
    return {"n": len(rows), "on_screen": on / n, "right": right / n, "right_chars": chars / n}


def measure(cases: list[LineCase], workspace: Path, llm: Any, index: VocabIndex,
            settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for case in cases:
        lines = (workspace / case.file).read_text(encoding="utf-8").split("\n")
        before = "\n".join(lines[max(0, case.line - settings.draft_prefix_lines): case.line]) + "\n"
        for k in range(min(KEYS, len(case.body) + 1)):
            line_prefix = before + case.indent + case.body[:k]  # the cursor's place, for post-processing
            prefix = line_prefix if k else before  # at the indentation the prompt leaves the whitespace out
            out: dict[str, Any] = {"k": k, "rest": case.body[k:], "prefix": line_prefix}
            for name, heal in (("plain", False), ("healed", True)):
                kept, forced = split_partial_token(prefix) if heal else (prefix, "")
                prompt = build_prompt("qwen", PromptParts(kept, "", case.file, "python", repo="packages")).text
                out[name] = generate(llm, prompt, forced, index)
            rows.append(out)
        print(f"  {case.file}:{case.line + 1} {case.body[:40]!r}", flush=True)
    return rows


def draw(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cuts = report["cuts"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "right", "share right"), (axes[1], "right_chars", "right characters")):
        for group in ("keys 1-5", "keys 6-15"):
            ys = [report["table"][group][f"healed, cut {c}"][key] for c in cuts]
            ax.plot(cuts, ys, marker="o", label=f"{group}, healed")
            ax.axhline(report["table"][group]["not healed"][key], linestyle="--", linewidth=0.8,
                       color=ax.lines[-1].get_color(), label=f"{group}, not healed, no cut")
        ax.set_xlabel("confidence cut")
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"first {KEYS} keys of {report['lines']} lines of the tuned packages, offline")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=24)
    parser.add_argument("--cuts", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "srag-bench-typing")
    parser.add_argument("--name", default="confidence")
    args = parser.parse_args(argv)
    from llama_cpp import Llama

    settings = Settings()
    workspace = args.work / "packages"
    install_packages(workspace, TUNED)
    cases = pick_lines(workspace, args.lines, args.seed, packages=list(TUNED), lengths=(28, 80))
    model = ensure_model(settings.embedded_model, settings.model_path())
    llm = Llama(str(model), n_ctx=2048, n_threads=2, verbose=False)
    index = VocabIndex(llama_kv.vocabulary_bytes(llm))
    rows = measure(cases, workspace, llm, index, settings)
    groups = {"all keys": rows, "key 0 (arrival)": [r for r in rows if r["k"] == 0],
              "keys 1-5": [r for r in rows if 1 <= r["k"] <= 5], "keys 6-15": [r for r in rows if r["k"] >= 6]}
    table: dict[str, dict[str, dict[str, float]]] = {}
    for group, selected in groups.items():
        table[group] = {"not healed": score(selected, False, 0.0), "healed": score(selected, True, 0.0)}
        for cut in args.cuts:
            table[group][f"not healed, cut {cut}"] = score(selected, False, cut)
            table[group][f"healed, cut {cut}"] = score(selected, True, cut)
    print(f"\n{len(cases)} lines of {', '.join(TUNED)}; on screen / right / right characters")
    for group, columns in table.items():
        print(f"\n{group} ({columns['healed']['n']} keys)")
        for label, s in columns.items():
            print(f"  {label:<22} {s['on_screen']:.2f} / {s['right']:.2f} / {s['right_chars']:.1f}")
    report = {"lines": len(cases), "packages": TUNED, "cuts": args.cuts, "table": table,
              "cases": [c.to_json() for c in cases]}
    save(args.name, report, lambda path: draw(report, path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
