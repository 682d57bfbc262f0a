"""`srag-lsp complete`: run the editor's completion engine (built by ``Runtime``) for one cursor, streamed to the
terminal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from srag_lsp.completion.languages import language_for
from srag_lsp.completion.request import CompletionRequest, Suggestion
from srag_lsp.runtime import Runtime, index_dir_for
from srag_lsp.settings import Settings


def parse_location(value: str) -> tuple[Path, int, int]:
    """FILE:LINE:COL with 1-based line and column, as compilers print them."""
    try:
        file, line, col = value.rsplit(":", 2)
        line_n, col_n = int(line), int(col)
    except ValueError:
        raise SystemExit(f"srag-lsp: expected FILE:LINE:COL (1-based), got {value!r}") from None
    if line_n < 1 or col_n < 1:
        raise SystemExit(f"srag-lsp: line and column are 1-based, got {line_n}:{col_n}")
    return Path(file), line_n, col_n


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _TerminalPrinter:
    """Prints a streaming suggestion: appends while the text grows, starts a new block when it is rewritten."""

    def __init__(self, color: bool) -> None:
        self.printed = ""
        self.stage = ""
        self.color = color

    def update(self, suggestion: Suggestion, t_ms: float) -> None:
        out = sys.stdout
        if suggestion.stage != self.stage or not suggestion.text.startswith(self.printed):
            if self.stage:
                out.write("\n")
            label = f"[{suggestion.stage} +{t_ms:.0f} ms] "
            out.write(f"\x1b[2m{label}\x1b[0m" if self.color else label)
            out.write("\n" if "\n" in suggestion.text else "")
            self.printed, self.stage = "", suggestion.stage
        out.write(suggestion.text[len(self.printed):])
        out.flush()
        self.printed = suggestion.text


async def run_complete(settings: Settings, location: str, workspace: str | None, *, as_json: bool) -> int:
    file, line, col = parse_location(location)
    root = Path(workspace).resolve() if workspace else Path.cwd().resolve()
    if file.is_absolute():
        path = file.resolve()
    else:
        # Relative to the workspace, or else to the current folder (as a shell user would type it).
        path = (root / file).resolve()
        if not path.exists() and (Path.cwd() / file).exists():
            path = (Path.cwd() / file).resolve()
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        _err(f"srag-lsp: cannot read {path}: {exc.strerror or exc}")
        return 2
    try:
        rel = path.relative_to(root).as_posix()
    except ValueError:
        rel = path.as_posix()
    lines = text.split("\n")
    if line > len(lines):
        _err(f"srag-lsp: {file} has {len(lines)} lines; line {line} is past the end")
        return 2
    line0 = line - 1
    col0 = min(col - 1, len(lines[line0]))

    def emit_json(obj: dict[str, Any]) -> None:
        print(json.dumps(obj), flush=True)

    def report(message: str, kind: types.MessageType = types.MessageType.Info) -> None:
        if as_json:
            emit_json({"event": "message", "level": kind.name.lower(), "message": message})
        else:
            _err(message)

    # The index: use it when it is there; say so when it is not and complete from local context.
    from indexer.query import IndexReader

    # With sharedIndex, the team's index is read as it is (plus the local overlay a daemon keeps, when there is one).
    index_dir = index_dir_for(settings, root)
    shared = settings.index_enabled and bool(settings.shared_index)
    reader = IndexReader.open(index_dir) if settings.index_enabled and not shared else None
    if reader is None and not shared:
        report(f"srag-lsp: no index for {root} (looked in {index_dir}); completing from local context only. "
               f"Build one with: srag-index build {root}", types.MessageType.Warning)

    started = time.perf_counter()
    runtime = Runtime(settings, root, report=report, index_worker=False, retrieval=reader is not None or shared)
    if not await runtime.start_models() or runtime.engine is None or runtime.backends is None:
        await runtime.close()
        return 3
    engine = runtime.engine
    draft, refine = runtime.backends
    load_ms = (time.perf_counter() - started) * 1000
    request = CompletionRequest(uri=path.as_uri(), path=rel, text=text, line=line0, col=col0, version=0,
                                language=language_for(rel))
    if as_json:
        emit_json({"event": "start", "file": rel, "line": line, "col": col, "backend": draft.info.backend,
                   "model": draft.info.model, "refine_model": refine.info.model,
                   "template": engine.draft.template, "strategy": settings.strategy,
                   "index": reader is not None, "load_ms": round(load_ms, 1)})
    else:
        _err(f"srag-lsp: {draft.info.backend} model {draft.info.model} ready in {load_ms:.0f} ms; "
             f"completing {rel}:{line}:{col} ({settings.strategy})")
    printer = _TerminalPrinter(color=sys.stdout.isatty())
    t0 = time.perf_counter()
    previous = {"text": "", "stage": ""}

    def on_update(s: Suggestion) -> None:
        t_ms = (time.perf_counter() - t0) * 1000
        if as_json:
            delta = s.text[len(previous["text"]):] if s.text.startswith(previous["text"]) and \
                s.stage == previous["stage"] else None
            emit_json({"event": "suggestion", "stage": s.stage, "text": s.text, "token": delta, "done": s.done,
                       "t_ms": round(t_ms, 1)})
        else:
            printer.update(s, t_ms)
        previous["text"], previous["stage"] = s.text, s.stage

    try:
        outcome = await engine.run(request, on_update)
    finally:
        await runtime.close()
    trace = outcome.trace
    ev, nums = trace.events, trace.numbers
    gen_tokens = nums.get("generated_tokens", 0)
    first_token = ev.get("first_draft_token", ev.get("first_refined_token"))
    done_ms = ev.get("done", 0.0)
    summary = {
        "event": "done", "text": outcome.suggestion.text, "stage": outcome.suggestion.stage,
        "first_token_ms": first_token, "first_visible_ms": ev.get("first_visible"), "done_ms": done_ms,
        "retrieval_ms": trace.sources, "prompt_tokens": int(nums.get("prompt_tokens", 0)),
        "prompt_evaluated": int(nums.get("prompt_evaluated", 0)), "generated_tokens": int(gen_tokens),
        "backend": draft.info.backend, "model": trace.model or draft.info.model,
        "context": [{"path": c.path, "symbol": c.symbol, "source": c.source} for c in outcome.chunks],
        "flags": trace.flags,
    }
    if as_json:
        emit_json(summary)
    else:
        print(flush=True)
        first = f"{first_token:.0f} ms" if first_token is not None else "none"
        _err(f"srag-lsp: first token {first}, done {done_ms:.0f} ms, {int(gen_tokens)} tokens generated, "
             f"prompt {int(nums.get('prompt_tokens', 0))} tokens ({int(nums.get('prompt_evaluated', 0))} evaluated), "
             f"{len(outcome.chunks)} context chunks, final stage {outcome.suggestion.stage}")
    return 0
