"""How fast the chunker cuts the CPython standard library into chunks, on one core.

Reads every ``*.py`` under ``sysconfig.get_paths()['stdlib']`` (without ``site-packages``) with
``indexer.files.read_source``, then times parsing alone and ``chunk_file`` (parse included) over all of
them in this one process, pinned to one CPU. Prints a table and writes
``benchmarks/results/chunking.json``.

    .venv/bin/python benchmarks/bench_chunking.py [--repeat N] [--max-chunk-lines N]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import platform
import statistics
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from indexer.chunker import DEFAULT_MAX_CHUNK_LINES, chunk_file, parse
from indexer.files import SourceText, read_source

RESULTS = Path(__file__).resolve().parent / "results" / "chunking.json"
MAX_BYTES = 4 * 1024 * 1024


def stdlib_sources() -> tuple[Path, list[tuple[str, str]]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    sources = []
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        read = read_source(path, MAX_BYTES)
        if isinstance(read, SourceText):
            sources.append((path.relative_to(root).as_posix(), read.text))
    return root, sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (the median is reported)")
    parser.add_argument("--max-chunk-lines", type=int, default=DEFAULT_MAX_CHUNK_LINES)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    root, sources = stdlib_sources()
    encoded = [text.encode("utf-8", "surrogatepass") for _, text in sources]
    lines = sum(text.count("\n") + 1 for _, text in sources)
    parse_times, chunk_times, parse_cpu, chunk_cpu = [], [], [], []
    kinds: collections.Counter[str] = collections.Counter()
    chunks = parts = errors = 0
    for _ in range(max(1, args.repeat)):
        started, cpu = time.perf_counter(), time.process_time()
        for source in encoded:
            parse("python", source)
        parse_times.append(time.perf_counter() - started)
        parse_cpu.append(time.process_time() - cpu)

        kinds.clear()
        chunks = parts = errors = 0
        started, cpu = time.perf_counter(), time.process_time()
        for rel, text in sources:
            result = chunk_file(rel, text, "python", max_chunk_lines=args.max_chunk_lines)
            chunks += len(result.chunks)
            errors += result.error is not None
            for chunk in result.chunks:
                kinds[chunk.kind] += 1
                parts += chunk.text.startswith("# (part ")
        chunk_times.append(time.perf_counter() - started)
        chunk_cpu.append(time.process_time() - cpu)

    parse_s = statistics.median(parse_times)
    chunk_s = statistics.median(chunk_times)
    parse_cpu_s = statistics.median(parse_cpu)
    chunk_cpu_s = statistics.median(chunk_cpu)
    figures = {
        "stdlib": str(root),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "cores_used": 1,
        "repeat": max(1, args.repeat),
        "max_chunk_lines": args.max_chunk_lines,
        "files": len(sources),
        "lines": lines,
        "chunks": chunks,
        "chunks_by_kind": dict(sorted(kinds.items())),
        "split_parts": parts,
        "files_with_syntax_errors": errors,
        "parse_seconds": round(parse_s, 3),
        "chunk_file_seconds": round(chunk_s, 3),
        "chunking_beyond_parse_seconds": round(chunk_s - parse_s, 3),
        "parse_cpu_seconds": round(parse_cpu_s, 3),
        "parse_cpu_seconds_best": round(min(parse_cpu), 3),
        "chunk_file_cpu_seconds_best": round(min(chunk_cpu), 3),
        "chunk_file_cpu_seconds": round(chunk_cpu_s, 3),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "files_per_second": round(len(sources) / chunk_s, 1),
        "lines_per_second": round(lines / chunk_s),
        "all_parse_seconds": [round(t, 3) for t in parse_times],
        "all_chunk_file_seconds": [round(t, 3) for t in chunk_times],
        "note": "wall time is noisy on a shared 2-core machine; CPU time (process_time) less so",
    }
    rows = [
        ("files", f"{len(sources):,}"),
        ("lines", f"{lines:,}"),
        ("chunks", f"{chunks:,}"),
        ("  by kind", ", ".join(f"{k} {v:,}" for k, v in sorted(kinds.items()))),
        ("  split parts", f"{parts:,}"),
        ("files with syntax errors", str(errors)),
        ("parse only (s wall / s CPU, median)", f"{parse_s:.2f} / {parse_cpu_s:.2f}"),
        ("chunk_file incl. parse (s wall / s CPU)", f"{chunk_s:.2f} / {chunk_cpu_s:.2f}"),
        ("best pass (s CPU: parse / chunk_file)", f"{min(parse_cpu):.2f} / {min(chunk_cpu):.2f}"),
        ("files/s", f"{len(sources) / chunk_s:,.0f}"),
        ("lines/s", f"{lines / chunk_s:,.0f}"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"chunking the CPython {platform.python_version()} standard library on one core")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
