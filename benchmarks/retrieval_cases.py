"""Cross-file completion cases from real packages: a cursor at the start of a use, the definition it needs.

For every module of a package, the names it imports from sibling modules (``from .models import Request``,
``from . import utils`` then ``utils.quote``) are followed to the module that defines them (through
re-exports, a few hops). Each later use of such a name is a case: the buffer is the file cut at the start
of the use (prefix only, as in CrossCodeEval: nothing after the cursor leaks the answer), and the answer is
the definition's line range in the defining module. Ground truth comes from Python's ``ast``, independent
of the chunker being measured.
"""

from __future__ import annotations

import ast
import builtins
import posixpath
import random
import shutil
import subprocess
import sys
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Pure-Python packages from PyPI, pinned. The first four are the ones the retriever was tuned on before
# issue 13; the next four were never looked at while tuning.
PACKAGES: dict[str, str] = {
    "requests": "2.32.3",
    "flask": "3.1.0",
    "jinja2": "3.1.4",
    "werkzeug": "3.1.3",
    "click": "8.1.7",
    "urllib3": "2.2.3",
    "packaging": "24.2",
    "pluggy": "1.5.0",
}
# JavaScript packages from npm that ship cross-file ES modules, pinned.
NPM_PACKAGES: dict[str, str] = {
    "lodash-es": "4.17.21",
}
MAX_USES_PER_NAME_PER_FILE = 2  # keep one busy name from dominating a package's sample
MAX_REEXPORT_HOPS = 4
_BUILTINS = frozenset(dir(builtins))  # compat modules re-bind str, bytes...: not a cross-file need


@dataclass(slots=True)
class Definition:
    path: str  # workspace-relative module file
    name: str
    start_line: int  # 1-based: the ``def``/``class`` line (decorators are above it)
    end_line: int


@dataclass(slots=True)
class Case:
    package: str
    file: str  # workspace-relative
    line: int  # 1-based
    col: int  # 1-based, in characters
    name: str  # the name used at the cursor
    form: str  # "name" (imported name) | "attribute" (module.name)
    answer: Definition
    text: str  # the buffer: the file cut at the cursor

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("text")
        return out


def install_packages(target: Path, packages: dict[str, str] | None = None) -> dict[str, Path]:
    """``pip install --target`` the pinned packages (without dependencies); reuse an existing install."""
    packages = packages or PACKAGES
    target.mkdir(parents=True, exist_ok=True)
    marker = target / ".pins"
    pins = " ".join(f"{name}=={version}" for name, version in sorted(packages.items()))
    if not (marker.exists() and marker.read_text() == pins):
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--no-compile",
                "--upgrade",
                "--target",
                str(target),
                *pins.split(),
            ],
            check=True,
        )
        marker.write_text(pins)
    return {name: target / name for name in packages}


def install_npm_packages(target: Path, packages: dict[str, str] | None = None) -> dict[str, Path]:
    """``npm pack`` the pinned packages into ``target/.npm`` and unpack each into ``target/<name>`` (reused)."""
    packages = packages or NPM_PACKAGES
    cache = target / ".npm"
    cache.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, version in packages.items():
        dest = target / name
        marker = dest / ".pin"
        if not (marker.exists() and marker.read_text() == version):
            tarball = cache / f"{name.replace('/', '-').lstrip('@')}-{version}.tgz"
            if not tarball.exists():
                subprocess.run(["npm", "pack", f"{name}@{version}", "--silent"], cwd=cache, check=True,
                               stdout=subprocess.DEVNULL)
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            with tarfile.open(tarball) as archive:
                for member in archive.getmembers():
                    if member.isfile() and member.name.startswith("package/"):
                        member.name = member.name.removeprefix("package/")
                        archive.extract(member, dest, filter="data")
            marker.write_text(version)
        out[name] = dest
    return out


# --- definitions -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Module:
    path: str
    tree: ast.Module
    lines: list[str]
    definitions: dict[str, Definition]
    imports: dict[str, tuple[str, str]]  # local name -> (module path, name there) for from-imports
    module_aliases: dict[str, str]  # local name -> module path, for ``from . import utils``/``import pkg.mod``


def _top_level_definitions(path: str, tree: ast.Module) -> dict[str, Definition]:
    out: dict[str, Definition] = {}

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                out.setdefault(node.name, Definition(path, node.name, node.lineno, node.end_lineno or node.lineno))
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(
                            target.id, Definition(path, target.id, node.lineno, node.end_lineno or node.lineno)
                        )
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return out


def _module_file(files: set[str], package: str, importer: str, level: int, module: str | None) -> str | None:
    """The workspace path of a module named in an import (relative, or absolute inside ``package``)."""
    if level:
        base = importer.split("/")[:-1]
        if level - 1 > len(base):
            return None
        base = base[: len(base) - (level - 1)]
    else:
        parts = (module or "").split(".")
        if parts[0] != package:
            return None
        base, module = [], ".".join(parts[1:]) or None
    parts = [*base, *(module.split(".") if module else [])]
    for candidate in ("/".join(parts) + ".py", "/".join([*parts, "__init__.py"])):
        candidate = candidate.lstrip("/")
        if candidate in files:
            return candidate
    return None


def load_modules(root: Path, package: str) -> dict[str, _Module]:
    files = {p.relative_to(root).as_posix() for p in root.rglob("*.py") if "__pycache__" not in p.parts}
    modules: dict[str, _Module] = {}
    for rel in sorted(files):
        source = (root / rel).read_text(encoding="utf-8")
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        imports: dict[str, tuple[str, str]] = {}
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                target = _module_file(files, package, rel, node.level, node.module)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    local = alias.asname or alias.name
                    sep = "." if node.module else ""
                    submodule = _module_file(files, package, rel, node.level, f"{node.module or ''}{sep}{alias.name}")
                    if submodule is not None:
                        aliases[local] = submodule
                    elif target is not None:
                        imports[local] = (target, alias.name)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    target = _module_file(files, package, rel, 0, alias.name)
                    if target is not None and alias.asname:
                        aliases[alias.asname] = target
        modules[rel] = _Module(rel, tree, source.split("\n"), _top_level_definitions(rel, tree), imports, aliases)
    return modules


def _definition_of(modules: dict[str, _Module], path: str, name: str) -> Definition | None:
    """Follow re-exports (``from .x import name`` in the named module) to the real definition."""
    for _ in range(MAX_REEXPORT_HOPS):
        module = modules.get(path)
        if module is None:
            return None
        definition = module.definitions.get(name)
        if definition is not None and not _is_reimport_line(module, definition):
            return definition
        if name not in module.imports:
            return definition
        path, name = module.imports[name]
    return None


def _is_reimport_line(module: _Module, definition: Definition) -> bool:
    return module.lines[definition.start_line - 1].lstrip().startswith(("from ", "import "))


# --- cases ----------------------------------------------------------------------------------------------------


def _char_col(line: str, byte_col: int) -> int:
    return len(line.encode("utf-8")[:byte_col].decode("utf-8", "replace"))


def _import_lines(tree: ast.Module) -> set[int]:
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return out


def _shadowed_loads(tree: ast.Module) -> set[tuple[int, int]]:
    """Positions of name loads that refer to a local binding of a function (``patch`` in
    ``major, minor, patch = ...``), not to the module-level import of the same name."""
    out: set[tuple[int, int]] = set()

    def local_names(function: ast.AST) -> set[str]:
        names: set[str] = set()
        args = getattr(function, "args", None)
        if args is not None:
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                if arg is not None:
                    names.add(arg.arg)
        for node in _walk_same_scope(function):
            if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
                names.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node is not function:
                names.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
        return names

    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            bound = local_names(function)
            for node in _walk_same_scope(function):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in bound:
                    out.add((node.lineno, node.col_offset))
    return out


def _walk_same_scope(function: ast.AST) -> list[ast.AST]:
    """Nodes of a function's body, not descending into nested functions, lambdas or classes."""
    out: list[ast.AST] = []
    stack = list(ast.iter_child_nodes(function))
    while stack:
        node = stack.pop()
        out.append(node)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def all_cases(root: Path, package: str) -> list[Case]:
    modules = load_modules(root, package)
    cases: list[Case] = []
    for rel, module in modules.items():
        skip_lines = _import_lines(module.tree)
        shadowed = _shadowed_loads(module.tree)
        per_name: dict[str, int] = {}
        found: list[tuple[int, int, str, str, Definition]] = []
        for node in ast.walk(module.tree):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id in module.imports
                and (node.lineno, node.col_offset) not in shadowed
            ):
                target, name = module.imports[node.id]
                definition = _definition_of(modules, target, name)
                if definition is None or definition.path == rel:
                    continue
                found.append((node.lineno, node.col_offset, node.id, "name", definition))
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Load)
                and isinstance(node.value, ast.Name)
                and node.value.id in module.module_aliases
                and node.end_lineno is not None
                and node.end_col_offset is not None
            ):
                definition = _definition_of(modules, module.module_aliases[node.value.id], node.attr)
                if definition is None or definition.path == rel:
                    continue
                attr_col = node.end_col_offset - len(node.attr.encode("utf-8"))
                found.append((node.end_lineno, attr_col, node.attr, "attribute", definition))
        for lineno, byte_col, name, form, definition in sorted(found, key=lambda f: (f[0], f[1])):
            if lineno in skip_lines or name in _BUILTINS:
                continue
            key = f"{form}:{name}"
            if per_name.get(key, 0) >= MAX_USES_PER_NAME_PER_FILE:
                continue
            per_name[key] = per_name.get(key, 0) + 1
            line_text = module.lines[lineno - 1]
            col = _char_col(line_text, byte_col)
            text = "\n".join([*module.lines[: lineno - 1], line_text[:col]])
            cases.append(Case(package, rel, lineno, col + 1, name, form, definition, text))
    return cases


def sample_cases(cases: list[Case], n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    chosen = cases if len(cases) <= n else rng.sample(cases, n)
    return sorted(chosen, key=lambda c: (c.file, c.line, c.col))


def answer_rank(chunks: list[Any], answer: Definition) -> int | None:
    """1-based rank of the first chunk (anything with path/start_line/end_line) holding the definition line."""
    for rank, chunk in enumerate(chunks, start=1):
        if chunk.path == answer.path and chunk.start_line <= answer.start_line <= chunk.end_line:
            return rank
    return None


# --- JavaScript (ES modules) ---------------------------------------------------------------------------------
# Ground truth from the JavaScript grammar's syntax tree (tree-sitter-javascript), read here independently of
# the chunker: a module's top-level declarations, its default export, its named exports and re-exports.

_JS_SUFFIXES = (".js", ".mjs")


@dataclass(slots=True)
class _JsModule:
    path: str
    lines: list[str]
    root: Any
    definitions: dict[str, Definition]
    exports: dict[str, tuple[str, str]]  # exported name -> ("", local name) or (module path, name there)
    imports: dict[str, tuple[str, str]]  # local name -> (module path, exported name or "default")


def _js_text(node: Any) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _js_resolve(files: set[str], importer: str, specifier: str) -> str | None:
    if not specifier.startswith("."):
        return None
    base = posixpath.normpath(posixpath.join(posixpath.dirname(importer), specifier))
    for candidate in (base, base + ".js", base + ".mjs", base + "/index.js"):
        if candidate in files:
            return candidate
    return None


def _js_declared(node: Any, path: str, out: dict[str, Definition]) -> None:
    """Top-level declarations of one statement (inside ``export`` too)."""
    start, end = node.start_point.row + 1, node.end_point.row + 1
    if node.type in ("function_declaration", "generator_function_declaration", "class_declaration"):
        name = _js_text(node.child_by_field_name("name"))
        if name:
            out.setdefault(name, Definition(path, name, start, end))
    elif node.type in ("lexical_declaration", "variable_declaration"):
        for declarator in node.named_children:
            if declarator.type == "variable_declarator":
                name_node = declarator.child_by_field_name("name")
                if name_node is not None and name_node.type == "identifier":
                    out.setdefault(_js_text(name_node), Definition(path, _js_text(name_node), start, end))
    elif node.type == "export_statement":
        declaration = node.child_by_field_name("declaration")
        if declaration is not None:
            _js_declared(declaration, path, out)


def load_js_modules(root: Path) -> dict[str, _JsModule]:
    from indexer.languages import parser_for

    files = {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.suffix in _JS_SUFFIXES and "node_modules" not in p.parts and p.is_file()
    }
    modules: dict[str, _JsModule] = {}
    for rel in sorted(files):
        source = (root / rel).read_bytes()
        tree = parser_for("javascript").parse(source)
        definitions: dict[str, Definition] = {}
        exports: dict[str, tuple[str, str]] = {}
        imports: dict[str, tuple[str, str]] = {}
        for node in tree.root_node.named_children:
            _js_declared(node, rel, definitions)
            source_node = node.child_by_field_name("source")
            target = _js_resolve(files, rel, _js_text(source_node).strip("'\"")) if source_node is not None else None
            if node.type == "import_statement" and target is not None:
                clause = next((c for c in node.named_children if c.type == "import_clause"), None)
                for part in clause.named_children if clause is not None else []:
                    if part.type == "identifier":
                        imports[_js_text(part)] = (target, "default")
                    elif part.type == "named_imports":
                        for spec in part.named_children:
                            name = _js_text(spec.child_by_field_name("name"))
                            alias = _js_text(spec.child_by_field_name("alias")) or name
                            imports[alias] = (target, name)
            elif node.type == "export_statement":
                value = node.child_by_field_name("value")
                declaration = node.child_by_field_name("declaration")
                if value is not None and value.type == "identifier":  # export default name;
                    exports["default"] = ("", _js_text(value))
                elif declaration is not None:
                    declared: dict[str, Definition] = {}
                    _js_declared(declaration, rel, declared)
                    is_default = any(c.type == "default" for c in node.children)
                    for name in declared:
                        exports["default" if is_default else name] = ("", name)
                for clause in (c for c in node.named_children if c.type == "export_clause"):
                    for spec in clause.named_children:
                        name = _js_text(spec.child_by_field_name("name"))
                        alias = _js_text(spec.child_by_field_name("alias")) or name
                        exports[alias] = (target, name) if target is not None else ("", name)
        text = source.decode("utf-8", "replace")
        modules[rel] = _JsModule(rel, text.split("\n"), tree.root_node, definitions, exports, imports)
    return modules


def _js_definition_of(modules: dict[str, _JsModule], path: str, name: str) -> Definition | None:
    """Follow exports and re-exports (a few hops) to the declaration an imported name refers to."""
    for _ in range(MAX_REEXPORT_HOPS):
        module = modules.get(path)
        if module is None:
            return None
        where, local = module.exports.get(name, ("", name))
        if where:
            path, name = where, local
            continue
        if local in module.definitions:
            return module.definitions[local]
        if local in module.imports:
            path, name = module.imports[local]
            continue
        return None
    return None


_JS_NOT_A_USE = frozenset({"import_specifier", "import_clause", "export_specifier", "namespace_import"})


def js_cases(root: Path, package: str) -> list[Case]:
    """A case per use of an imported name (at most two per name and file), the buffer cut at the use."""
    modules = load_js_modules(root)
    cases: list[Case] = []
    for rel, module in modules.items():
        per_name: dict[str, int] = {}
        stack = [module.root]
        found: list[tuple[int, int, str, Definition]] = []
        while stack:
            node = stack.pop()
            stack.extend(node.named_children)
            if node.type != "identifier" or node.parent is None or node.parent.type in _JS_NOT_A_USE:
                continue
            name = _js_text(node)
            if name not in module.imports:
                continue
            definition = _js_definition_of(modules, *module.imports[name])
            if definition is None or definition.path == rel:
                continue
            found.append((node.start_point.row + 1, node.start_point.column, name, definition))
        for lineno, byte_col, name, definition in sorted(found, key=lambda f: (f[0], f[1])):
            if per_name.get(name, 0) >= MAX_USES_PER_NAME_PER_FILE:
                continue
            per_name[name] = per_name.get(name, 0) + 1
            line_text = module.lines[lineno - 1]
            col = _char_col(line_text, byte_col)
            text = "\n".join([*module.lines[: lineno - 1], line_text[:col]])
            cases.append(Case(package, rel, lineno, col + 1, name, "name", definition, text))
    return cases
