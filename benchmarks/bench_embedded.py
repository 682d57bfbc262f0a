"""The embedded models on this machine: cold start, time to first token, prompt and generation speed, prefix reuse.

For each embedded model (the qwen2.5-coder default and the gemma3 draft model), through `EmbeddedBackend`
exactly as the daemon uses it:
- cold start, in a fresh subprocess: importing the backend (and llama_cpp), loading the model, and the
  first token of a short prompt; plus the resident memory after the first request;
- time to first token on a short prompt and on a ~1,000-token prompt that shares nothing with the previous
  prompt (the KV cache cannot help);
- prompt evaluation in tokens/s (the ~1,000-token prompt), and the same prompt evaluated by llama.cpp in
  one call (what the cancellation checks between 64-token batches cost);
- generation in tokens/s (first token to last, 48 tokens);
- prefix reuse: the ~1,000-token prompt extended by a line, as when the user types on: tokens evaluated
  and time to first token.

    .venv/bin/python -m benchmarks.bench_embedded [--repeat 3] [--models qwen2.5-coder-0.5b,gemma3-270m] [--threads N]

Prints a table and writes benchmarks/results/embedded.json. Medians over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "embedded.json"
REPO = Path(__file__).resolve().parent.parent
MODELS = ("qwen2.5-coder-0.5b", "gemma3-270m")
LONG_TOKENS = 1000
GEN_TOKENS = 48

CHILD = """
import asyncio, json, sys, time
t0 = time.perf_counter()
from srag_lsp.models.base import GenerationRequest, GenerationStats
from srag_lsp.models.embedded import EmbeddedBackend
from srag_lsp.settings import default_model_dir
import llama_cpp
t_import = time.perf_counter()

async def main():
    backend = EmbeddedBackend(sys.argv[1], model_dir=default_model_dir(), n_threads=int(sys.argv[3]) or None)
    await backend.start()
    t_load = time.perf_counter()
    first = None
    async for _ in backend.stream(GenerationRequest(sys.argv[2], max_tokens=4)):
        if first is None:
            first = time.perf_counter()
    return t_load, first

t_load, t_first = asyncio.run(main())
rss_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS:"))
print(json.dumps({"import_ms": (t_import - t0) * 1e3, "load_ms": (t_load - t_import) * 1e3,
                  "first_token_ms": (t_first - t_load) * 1e3, "total_ms": (t_first - t0) * 1e3,
                  "rss_mb": rss_kb / 1024}))
"""


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fim(model: str, prefix: str, suffix: str = "\n") -> str:
    if model.startswith("qwen"):
        return f"<|fim_prefix|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
    return prefix


def source_text() -> str:
    """Real code for the long prompt: the standard library's textwrap and a bit more."""
    import argparse as a
    import textwrap as t

    return inspect.getsource(t) + "\n" + inspect.getsource(a)


def cold_start(model: str, short_prompt: str, threads: int) -> dict[str, float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, model, short_prompt, str(threads)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    wall = (time.perf_counter() - started) * 1e3
    if done.returncode != 0:
        raise RuntimeError(f"cold start of {model} failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    figures["process_wall_ms"] = wall
    return figures


async def timed(backend: Any, prompt: str, max_tokens: int) -> dict[str, float]:
    from srag_lsp.models.base import GenerationRequest, GenerationStats

    stats = GenerationStats()
    started = time.perf_counter()
    first = last = None
    async for _ in backend.stream(GenerationRequest(prompt, max_tokens=max_tokens), stats):
        now = time.perf_counter()
        first = first or now
        last = now
    assert first is not None and last is not None, "no text generated"
    gen_tps = (stats.generated_tokens - 1) / (last - first) if stats.generated_tokens > 1 and last > first else 0.0
    return {
        "ttft_ms": (first - started) * 1e3,
        "prompt_tokens": stats.prompt_tokens,
        "prompt_evaluated": stats.prompt_evaluated,
        "prompt_eval_ms": stats.prompt_eval_ms,
        "generated": stats.generated_tokens,
        "gen_tps": gen_tps,
    }


def long_prefix(backend: Any, model: str, source: str, offset: int) -> str:
    """About LONG_TOKENS tokens of real code, starting ``offset`` lines in (so each repeat differs from the start)."""
    lines = source.splitlines(keepends=True)[offset:]
    text = ""
    for line in lines:
        if len(backend.tokenize(fim(model, text + line))) > LONG_TOKENS:
            break
        text += line
    return text


def one_call_eval_tps(backend: Any, prompt: str) -> float:
    """The same prompt evaluated by llama.cpp in one eval() call (n_batch 256), no cancellation checks."""
    slot = backend._slot
    with slot.lock:
        llm = slot.llm
        tokens = backend.tokenize(prompt)
        llm.reset()
        started = time.perf_counter()
        llm.eval(tokens)
        elapsed = time.perf_counter() - started
        llm.reset()
    return len(tokens) / elapsed


async def warm(model: str, repeat: int, threads: int) -> dict[str, Any]:
    from srag_lsp.models.embedded import EmbeddedBackend
    from srag_lsp.settings import default_model_dir

    backend = EmbeddedBackend(model, model_dir=default_model_dir(), slot="bench", n_threads=threads or None)
    await backend.start()
    source = source_text()
    await timed(backend, fim(model, "import os\n"), 2)  # warm-up
    short, long_, gen, reuse, one_call = [], [], [], [], []
    for i in range(repeat):
        short.append(await timed(backend, fim(model, f"# run {i}\ndef add(a, b):\n    return "), 8))
        prefix = long_prefix(backend, model, source, offset=40 * i)
        long_.append(await timed(backend, fim(model, prefix), 8))
        extended = prefix + "    # and one more line that the user typed\n    "
        reuse.append(await timed(backend, fim(model, extended), 8))
        gen.append(await timed(backend, fim(model, f"# run {i}\nclass Stack:\n    "), GEN_TOKENS))
        one_call.append(one_call_eval_tps(backend, fim(model, prefix)))
    return {
        "short": {k: median([r[k] for r in short]) for k in short[0]},
        "long": {k: median([r[k] for r in long_]) for k in long_[0]},
        "prefix_reuse": {k: median([r[k] for r in reuse]) for k in reuse[0]},
        "generation": {k: median([r[k] for r in gen]) for k in gen[0]},
        "prompt_eval_tps": median([r["prompt_evaluated"] / (r["prompt_eval_ms"] / 1e3) for r in long_]),
        "prompt_eval_tps_one_call": median(one_call),
    }


def machine() -> dict[str, Any]:
    import llama_cpp

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    flags = next(
        (
            line.split(":", 1)[1].split()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("flags")
        ),
        [],
    )
    return {
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "llama_cpp_python": llama_cpp.__version__,
        "avx512": any(f.startswith("avx512") for f in flags),
        "load_average": os.getloadavg(),  # other work on the machine makes every figure slower
    }


def table(results: dict[str, Any]) -> str:
    rows = [
        ("cold: import (ms)", lambda r: r["cold"]["import_ms"]),
        ("cold: load model (ms)", lambda r: r["cold"]["load_ms"]),
        ("cold: first token after load (ms)", lambda r: r["cold"]["first_token_ms"]),
        ("cold: process start to first token (ms)", lambda r: r["cold"]["process_wall_ms"]),
        ("resident memory (MB)", lambda r: r["cold"]["rss_mb"]),
        ("TTFT short prompt (ms)", lambda r: r["warm"]["short"]["ttft_ms"]),
        ("  short prompt tokens", lambda r: r["warm"]["short"]["prompt_tokens"]),
        ("TTFT ~1000-token prompt (ms)", lambda r: r["warm"]["long"]["ttft_ms"]),
        ("  long prompt tokens", lambda r: r["warm"]["long"]["prompt_tokens"]),
        ("prompt eval (tokens/s)", lambda r: r["warm"]["prompt_eval_tps"]),
        ("prompt eval, one eval() call (tokens/s)", lambda r: r["warm"]["prompt_eval_tps_one_call"]),
        ("generation (tokens/s)", lambda r: r["warm"]["generation"]["gen_tps"]),
        ("prefix reuse: tokens evaluated", lambda r: r["warm"]["prefix_reuse"]["prompt_evaluated"]),
        ("prefix reuse: of prompt tokens", lambda r: r["warm"]["prefix_reuse"]["prompt_tokens"]),
        ("prefix reuse: TTFT (ms)", lambda r: r["warm"]["prefix_reuse"]["ttft_ms"]),
    ]
    names = list(results)
    width = max(len(label) for label, _ in rows)
    out = [f"{'':<{width}}  " + "  ".join(f"{n:>20}" for n in names)]
    for label, get in rows:
        out.append(f"{label:<{width}}  " + "  ".join(f"{get(results[n]):>20.1f}" for n in names))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    load_before = os.getloadavg()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: every core)")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for model in args.models.split(","):
        print(f"{model}: cold start ...", file=sys.stderr, flush=True)
        colds = [cold_start(model, fim(model, "def add(a, b):\n    return "), args.threads) for _ in range(args.repeat)]
        cold = {k: median([c[k] for c in colds]) for k in colds[0]}
        print(f"{model}: warm runs ...", file=sys.stderr, flush=True)
        results[model] = {"cold": cold, "warm": asyncio.run(warm(model, args.repeat, args.threads))}
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": machine() | {"load_average_before": load_before},
                "threads": args.threads or len(os.sched_getaffinity(0)),
                "repeat": args.repeat,
                "models": results,
                "notes": textwrap.dedent(__doc__ or "").strip(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
