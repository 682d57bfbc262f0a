"""Writes a benchmark's results into benchmarks/results/: the JSON, the PNG when it draws one, and says where."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def save(name: str, data: dict[str, Any], draw: Callable[[Path], None] | None = None) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=1, default=str))
    written = [RESULTS / f"{name}.json"]
    if draw is not None:
        draw(RESULTS / f"{name}.png")
        written.append(RESULTS / f"{name}.png")
    print("\nwrote " + " and ".join(str(p) for p in written))
