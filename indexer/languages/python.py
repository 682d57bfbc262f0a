"""Python: its grammar, definitions, imports and how they resolve, local bindings and noise words."""

from __future__ import annotations

import builtins
import keyword
import posixpath
import re
from collections.abc import Sequence

from indexer.languages.base import (
    DQ,
    IDENT,
    SQ,
    BindingContext,
    DefMatch,
    ImportBinding,
    LanguageSpec,
    Node,
    WorkspaceFiles,
    Wrapper,
    annotation_class,
    class_of_call,
    is_constant_name,
    named,
    node_text,
    text_of,
    with_paths,
    words,
)

LEXER = re.compile(
    rb"[^A-Za-z_\x80-\xff\"'#]+|(?:[rRbBuUfF]{1,2})?(?:"
    rb'"""[^"\\]*(?:(?:\\.|"(?!""))[^"\\]*)*"""'
    rb"|'''[^'\\]*(?:(?:\\.|'(?!''))[^'\\]*)*'''|" + DQ + rb"|" + SQ + rb")|#[^\n]*|" + IDENT,
    re.S,
)
KEYWORDS = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | words("type self cls print")
BUILTINS = frozenset(name for name in dir(builtins) if not name.startswith("__"))
_NOISE = KEYWORDS | BUILTINS


# --------------------------------------------------------------------------------------------------
# Definitions


# The right-hand side of a type alias written as an assignment (``Body = Union[str, bytes]``).
_TYPE_EXPRESSION = re.compile(
    r"(?:typing\.|t\.|typing_extensions\.)?(?:Union|Optional|Callable|Literal|Type|Tuple|Dict|List|Set|FrozenSet|"
    r"Mapping|MutableMapping|Sequence|Iterable|Iterator|AsyncIterable|AsyncIterator|Generator|Awaitable|"
    r"Coroutine|Annotated|ClassVar|TypeVar|ParamSpec|NewType)\s*[\[(]"
)


def _constant_or_alias(node: Node, in_container: bool) -> Sequence[DefMatch]:
    """``MAX = 3`` (an ALL_CAPS name) is a constant; ``Body = Union[str, bytes]`` or ``X: TypeAlias = ...`` is
    a type, whatever the case of its name."""
    if in_container:
        return ()
    assignment = node.named_child(0)
    if assignment is None or assignment.type != "assignment":
        return ()
    left = assignment.child_by_field_name("left")
    if left is None or left.type != "identifier":
        return ()
    name = node_text(left)
    right = assignment.child_by_field_name("right")
    annotation = assignment.child_by_field_name("type")
    if (annotation is not None and node_text(annotation).rsplit(".", 1)[-1] == "TypeAlias") or (
        right is not None and _TYPE_EXPRESSION.match(node_text(right))
    ):
        return (DefMatch("type", name, node),)
    return (DefMatch("constant", name, node),) if is_constant_name(name) else ()


def _type_alias(node: Node, in_container: bool) -> Sequence[DefMatch]:
    if in_container:
        return ()
    left = node.child_by_field_name("left")
    match = re.match(r"[^\W\d]\w*", node_text(left)) if left is not None else None
    return (DefMatch("type", match.group(0), node),) if match else ()


def _assigned(node: Node) -> list[str]:
    if node.type != "expression_statement":
        return []
    out: list[str] = []
    child = node.named_child(0)
    while child is not None and child.type == "assignment":
        left = child.child_by_field_name("left")
        if left is not None:
            if left.type == "identifier":
                out.append(node_text(left))
            elif left.type in ("pattern_list", "tuple_pattern", "list_pattern"):
                out.extend(node_text(c) for c in left.named_children if c.type == "identifier")
        child = child.child_by_field_name("right")
    return out


# --------------------------------------------------------------------------------------------------
# Imports: one binding per name an import statement binds


def _bindings(node: Node) -> list[ImportBinding]:
    row = node.start_point.row
    if node.type == "future_import_statement":
        names = [text_of(c) for c in node.children_by_field_name("name")]
        return [ImportBinding(n, "__future__", n, row) for n in names] or [ImportBinding("", "__future__", "", row)]
    out: list[ImportBinding] = []
    if node.type == "import_statement":
        for child in node.children_by_field_name("name"):
            if child.type == "aliased_import":
                dotted = text_of(child.child_by_field_name("name"))
                out.append(ImportBinding(text_of(child.child_by_field_name("alias")), dotted, "", row, (), True))
            else:
                dotted = text_of(child)
                out.append(ImportBinding(dotted, dotted, "", row, (), True))
        return out
    module = text_of(node.child_by_field_name("module_name")).replace(" ", "")
    names_nodes = node.children_by_field_name("name")
    if not names_nodes and any(c.type == "wildcard_import" for c in node.children):
        return [ImportBinding("*", module, "*", row)]
    for child in names_nodes:
        if child.type == "aliased_import":
            name = text_of(child.child_by_field_name("name"))
            out.append(ImportBinding(text_of(child.child_by_field_name("alias")), module, name, row))
        else:
            name = text_of(child)
            out.append(ImportBinding(name, module, name, row))
    return out or ([ImportBinding("", module, "", row)] if module else [])


def _import_path(binding: ImportBinding) -> str:
    """The module an import names: ``from . import a`` names the module ``.a``."""
    if binding.module and not binding.module.strip(".") and binding.name not in ("", "*"):
        return binding.module + binding.name
    return binding.module


# --------------------------------------------------------------------------------------------------
# Module resolution: relative imports from the file's package; absolute ones by the dotted path from each
# folder that is not itself a package (so ``requests.models`` finds ``models.py`` when the workspace *is*
# the ``requests`` package, and ``src/pkg/mod.py`` in a repository, while a package's inner
# ``vendor/requests.py`` is never the top-level ``requests``); ``from pkg import mod`` binds the submodule.


def _tails(files: WorkspaceFiles) -> dict[tuple[str, ...], list[str]]:
    prefix = files.package_prefix

    def compute(paths: set[str]) -> dict[tuple[str, ...], list[str]]:
        packages = {posixpath.dirname(p) for p in paths if p.endswith(("/__init__.py", "/__init__.pyi"))}
        if any(p in ("__init__.py", "__init__.pyi") for p in paths):
            packages.add("")
        tails: dict[tuple[str, ...], list[str]] = {}
        for rel in paths:
            if not rel.endswith((".py", ".pyi")):
                continue
            parts = rel.rsplit(".", 1)[0].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            dirs = rel.split("/")[:-1]
            if prefix:  # the workspace folder is a package: its modules start with its name
                tails.setdefault((prefix, *parts), []).append(rel)
                continue
            for i in range(len(parts)):
                if i == 0 or "/".join(dirs[:i]) not in packages:
                    tails.setdefault(tuple(parts[i:]), []).append(rel)
        return tails

    return files.derived("python-tails", compute)  # type: ignore[return-value]


def _module_files(files: WorkspaceFiles, importer: str, module: str) -> list[str]:
    """Workspace files of a (possibly relative) dotted module."""
    level = len(module) - len(module.lstrip("."))
    rest = module[level:]
    if level:
        base = posixpath.dirname(importer)
        for _ in range(level - 1):
            base = posixpath.dirname(base)
        paths = files.paths()
        if rest:
            stem = posixpath.join(base, *rest.split("."))
            candidates = [f"{stem}.py", f"{stem}/__init__.py", f"{stem}.pyi", f"{stem}/__init__.pyi"]
        else:
            candidates = [posixpath.join(base, "__init__.py"), posixpath.join(base, "__init__.pyi")]
        return [p for p in candidates if p in paths][:1]
    if not rest:
        return []
    candidates = _tails(files).get(tuple(rest.split(".")), [])
    importer_dir = posixpath.dirname(importer)

    def closeness(path: str) -> tuple[int, int, str]:
        shared = (
            len(posixpath.commonpath([importer_dir, posixpath.dirname(path)]).split("/"))
            if importer_dir and posixpath.dirname(path)
            else 0
        )
        return (-shared, path.count("/"), path)

    return sorted(candidates, key=closeness)[:1]


def _resolve(files: WorkspaceFiles, importer: str, binding: ImportBinding) -> ImportBinding:
    module_paths = _module_files(files, importer, binding.module)
    if binding.is_module:
        return with_paths(binding, module_paths, True)
    if binding.name and binding.name != "*":
        sep = "" if binding.module.endswith(".") else "."
        submodule = _module_files(files, importer, f"{binding.module}{sep}{binding.name}")
        if submodule:
            return with_paths(binding, submodule, True)
    return with_paths(binding, module_paths, False)


# --------------------------------------------------------------------------------------------------
# Local bindings: parameters (with their annotated classes), assignments, ``for``/``with``/``as`` targets,
# and ``self.attr`` assignments in the enclosing class.

_ASSIGN = re.compile(
    r"^[ \t]*([A-Za-z_][\w]*(?:[ \t]*,[ \t]*[A-Za-z_]\w*)*)[ \t]*(?::[ \t]*([^=\n]+?))?[ \t]*=(?!=)[ \t]*(.*)$"
)
_SELF_ATTR = re.compile(r"^[ \t]*self\.([A-Za-z_]\w*)[ \t]*(?::[ \t]*([^=\n]+?))?[ \t]*(?:=(?!=)[ \t]*(.*))?$")
_FOR = re.compile(r"\bfor[ \t]+([\w, \t]+?)[ \t]+in\b")
_AS = re.compile(r"\bas[ \t]+([A-Za-z_]\w*)")
_WITH_AS = re.compile(r"\bwith[ \t]+([A-Za-z_][\w.]*)[ \t]*\(.*\)[ \t]+as[ \t]+([A-Za-z_]\w*)")


def _parameters(function: Node, names: set[str], types: dict[str, str]) -> None:
    params = function.child_by_field_name("parameters")
    if params is None:
        return
    for child in params.children:
        name_node: Node | None = None
        type_node = child.child_by_field_name("type")
        if child.type == "identifier":
            name_node = child
        elif child.type in ("default_parameter", "typed_default_parameter"):
            name_node = child.child_by_field_name("name")
        elif child.type in ("typed_parameter", "list_splat_pattern", "dictionary_splat_pattern"):
            name_node = next((c for c in child.children if c.type == "identifier"), None)
        if name_node is None:
            continue
        name = node_text(name_node)
        names.add(name)
        if type_node is not None:
            cls = annotation_class(node_text(type_node), _NOISE)
            if cls:
                types[name] = cls


def _local_bindings(ctx: BindingContext) -> tuple[set[str], dict[str, str]]:
    names: set[str] = set()
    types: dict[str, str] = {}
    in_function = ctx.function_start is not None
    if ctx.function is not None:
        _parameters(ctx.function, names, types)
    for text in ctx.region():
        match = _ASSIGN.match(text)
        if match:
            targets = [t.strip() for t in match.group(1).split(",")]
            if in_function:
                names.update(targets)
            if len(targets) == 1:
                cls = annotation_class(match.group(2) or "", _NOISE) or class_of_call(match.group(3))
                if cls:
                    types[targets[0]] = cls
        for match in _WITH_AS.finditer(text):
            cls = match.group(1).rsplit(".", 1)[-1]
            names.add(match.group(2))
            if cls[:1].isupper():
                types[match.group(2)] = cls
        if in_function:
            for match in _FOR.finditer(text):
                names.update(t.strip() for t in match.group(1).split(",") if t.strip())
            for match in _AS.finditer(text):
                if not text.lstrip().startswith(("import", "from")):
                    names.add(match.group(1))
    if ctx.class_lines is not None:
        start, end = ctx.class_lines
        for text in ctx.lines[start : min(end, len(ctx.lines))]:
            match = _SELF_ATTR.match(text)
            if match:
                cls = annotation_class(match.group(2) or "", _NOISE) or class_of_call(match.group(3) or "")
                if cls:
                    types.setdefault("self." + match.group(1), cls)
    return names, types


# --------------------------------------------------------------------------------------------------

SPEC = LanguageSpec(
    key="python",
    extensions=(".py", ".pyi", ".pyw"),
    grammar_module="tree_sitter_python",
    grammar_function="language",
    line_comment="#",
    lsp_ids=("python",),
    elision=" ...",
    definitions={
        "function_definition": named("function"),
        "class_definition": named("class", container=True),
        "expression_statement": _constant_or_alias,
        "type_alias_statement": _type_alias,
    },
    wrappers={"decorated_definition": Wrapper("definition", in_signature=False)},
    transparent=frozenset(
        {
            "if_statement",
            "elif_clause",
            "else_clause",
            "try_statement",
            "except_clause",
            "finally_clause",
            "with_statement",
            "block",
        }
    ),
    imports={
        "import_statement": _bindings,
        "import_from_statement": _bindings,
        "future_import_statement": _bindings,
    },
    import_path=_import_path,
    attach_comments=False,  # Python documents inside the definition; matches inspect.getsourcelines
    trivial=frozenset({"pass_statement"}),
    assigned_names=_assigned,
    lexer=LEXER,
    keywords=KEYWORDS,
    builtins=BUILTINS,
    resolve=_resolve,
    local_bindings=_local_bindings,
    function_scopes=frozenset({"function_definition"}),
    class_scopes=frozenset({"class_definition"}),
    member_header=re.compile(r"^[ \t]+(?:async[ \t]+)?def[ \t]+\w+"),
    module_assignment=re.compile(r"^([A-Za-z_]\w*)[ \t]*(?::[^=\n]*)?=(?!=)", re.M),
)
SPECS = (SPEC,)
