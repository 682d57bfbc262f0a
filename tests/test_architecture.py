"""The house rules that a refactor must not break: layers import only downward, no import cycle, small modules.

Every import in ``srag_lsp/`` and ``indexer/`` is read with ``ast`` (lazy ones inside functions too; imports
under ``if TYPE_CHECKING:`` are for the type checker only and are left out).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("srag_lsp", "indexer")
MAX_LINES = 500

# Lower numbers are lower layers. A module may import its own package (the first two name parts) and lower
# layers; never a higher layer, nor another package of its own layer.
LAYERS: dict[str, int] = {
    "indexer": 0,
    "srag_lsp.__init__": 1,
    "srag_lsp.settings": 1,
    "srag_lsp.private_jsonl": 1,
    "srag_lsp.common_prefix": 1,
    "srag_lsp.trace": 2,
    "srag_lsp.prompts": 2,
    "srag_lsp.models": 3,
    "srag_lsp.retrieval": 3,
    "srag_lsp.completion": 4,
    "srag_lsp.acceptance": 4,
    "srag_lsp.runtime": 5,
    "srag_lsp.doctor": 6,
    "srag_lsp.commands": 6,
    "srag_lsp.lsp": 6,
    "srag_lsp.cli": 7,
    "srag_lsp.__main__": 8,
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def unit(module: str) -> str:
    """The layer unit a module belongs to: ``indexer``, or ``srag_lsp.<first part>``."""
    if module == "srag_lsp":
        return "srag_lsp.__init__"
    parts = module.split(".")
    return parts[0] if parts[0] == "indexer" else ".".join(parts[:2])


def modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``module`` imports at run time (resolved to the longest known module name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out = set()
    for name in names:
        parts = name.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts and ".".join(parts) != module:
            out.add(".".join(parts))
    return out


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def test_every_module_has_a_layer() -> None:
    assert not [m for m in modules() if unit(m) not in LAYERS]


def test_layers_import_only_downward() -> None:
    wrong = []
    for module, targets in graph().items():
        here = unit(module)
        for target in targets:
            there = unit(target)
            if there != here and LAYERS[there] >= LAYERS[here]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "upward or sideways imports:\n" + "\n".join(sorted(wrong))


def test_the_import_graph_has_no_cycle() -> None:
    edges = graph()
    # A package's __init__ that re-exports its own modules is not a cycle of its own.
    edges = {m: {t for t in ts if not (t.startswith(m + ".") and modules()[m].name == "__init__.py")}
             for m, ts in edges.items()}
    state: dict[str, int] = {}
    cycles: list[str] = []

    def walk(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*trail[trail.index(target):], target]))
            elif target not in state:
                walk(target, [*trail, target])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            walk(start, [start])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_module_is_over_the_size_limit() -> None:
    big = {m: n for m, p in modules().items() if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert not big, f"modules over {MAX_LINES} lines: {big}"
