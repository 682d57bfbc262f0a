"""The definitions that enclose a cursor: functions and classes from the syntax tree, outermost first.

For Python the tree alone is not enough: on a blank, indented line after a method's last statement the
tree says "module" (the block ended), but the indentation says "inside the class". So the search starts at
the last non-blank character before the cursor and keeps only definitions whose header is indented less
than the cursor's line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tree_sitter import Node, Point, Tree

from indexer.languages import LANGUAGES

# Any language's function and class node types, for a buffer whose language is not known.
FUNCTION_TYPES = frozenset().union(*(spec.function_scopes for spec in LANGUAGES.values()))
CLASS_TYPES = frozenset().union(*(spec.class_scopes for spec in LANGUAGES.values()))


def _scope_types(language: str | None) -> tuple[frozenset[str], frozenset[str]]:
    spec = LANGUAGES.get(language or "")
    return (spec.function_scopes, spec.class_scopes) if spec is not None else (FUNCTION_TYPES, CLASS_TYPES)


@dataclass(slots=True)
class Scope:
    kind: str  # "function" | "class"
    name: str
    node: Node
    start_line: int  # 1-based
    end_line: int  # 1-based
    bases: list[str] = field(default_factory=list)  # classes only: base classes as written (last part)


def _text(node: Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text is not None else ""


def _declarator_name(node: Node | None) -> str:
    """The identifier at the bottom of a C/C++ declarator chain."""
    depth = 0
    while node is not None and depth < 8:
        if node.type in ("identifier", "field_identifier", "qualified_identifier", "destructor_name"):
            return _text(node).rsplit("::", 1)[-1]
        node = node.child_by_field_name("declarator")
        depth += 1
    return ""


def definition_name(node: Node) -> str:
    if node.type == "impl_item":
        return _text(node.child_by_field_name("type")).split("<", 1)[0]
    name = node.child_by_field_name("name")
    if name is not None:
        return _text(name)
    if node.type == "function_definition":  # C/C++
        return _declarator_name(node.child_by_field_name("declarator"))
    parent = node.parent
    if parent is not None and parent.type == "variable_declarator":  # const f = () => ...
        return _text(parent.child_by_field_name("name"))
    if parent is not None and parent.type == "pair":
        return _text(parent.child_by_field_name("key"))
    return ""


def _bases(node: Node) -> list[str]:
    out: list[str] = []
    superclasses = node.child_by_field_name("superclasses")  # python: argument_list
    if superclasses is not None:
        for child in superclasses.children:
            if child.type in ("identifier", "attribute"):
                out.append(_text(child).rsplit(".", 1)[-1])
    for child in node.children:  # js/ts: class_heritage > extends_clause / implements_clause
        if child.type in ("class_heritage", "superclass", "super_interfaces"):
            for ident in _identifiers_under(child):
                out.append(ident)
    if node.type == "impl_item":
        trait = node.child_by_field_name("trait")
        if trait is not None:
            out.append(_text(trait).split("<", 1)[0])
    return out


def _identifiers_under(node: Node) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current.type in ("identifier", "type_identifier"):
            found.append(_text(current))
            continue
        stack.extend(reversed(current.children))
    return found


def _anchor(source: bytes, cursor: int) -> tuple[Point, int]:
    """The last non-blank byte before the cursor (or the cursor), and the cursor line's indentation."""
    line_start = source.rfind(b"\n", 0, cursor) + 1
    line_end = source.find(b"\n", cursor)
    line = source[line_start : (line_end if line_end >= 0 else len(source))]
    before = source[line_start:cursor]
    indent = len(line) - len(line.lstrip(b" \t")) if before.strip() else len(before)
    probe = cursor - 1
    while probe > 0 and source[probe : probe + 1] in (b" ", b"\t", b"\n", b"\r"):
        probe -= 1
    probe = max(probe, 0)
    row = source.count(b"\n", 0, probe)
    return Point(row, probe - (source.rfind(b"\n", 0, probe) + 1)), indent


def enclosing_scopes(tree: Tree, source: bytes, cursor: int, language: str | None) -> list[Scope]:
    """Definitions around the cursor (a byte offset into ``source``), outermost first."""
    row = source.count(b"\n", 0, cursor)
    byte_col = cursor - (source.rfind(b"\n", 0, cursor) + 1)
    if language == "python":
        point, indent = _anchor(source, cursor)
    else:
        point, indent = Point(row, byte_col), -1
    node: Node | None = tree.root_node.descendant_for_point_range(point, point)
    function_types, class_types = _scope_types(language)
    scopes: list[Scope] = []
    while node is not None:
        kind = "function" if node.type in function_types else "class" if node.type in class_types else ""
        if kind:
            keep = True
            if language == "python":
                inside = node.end_point.row > row  # the definition goes on after the cursor's line
                keep = node.start_point.row < row and (inside or node.start_point.column < indent)
            elif node.type in ("arrow_function", "function_expression", "function") and not definition_name(node):
                keep = False  # anonymous callbacks are not scopes anyone looks up
            if keep:
                scope = Scope(kind, definition_name(node), node, node.start_point.row + 1, node.end_point.row + 1)
                if kind == "class":
                    scope.bases = _bases(node)
                if language == "python" and scope.end_line < row + 1:
                    scope.end_line = row + 1  # the block continues on the cursor's (blank) line
                scopes.append(scope)
        node = node.parent
    scopes.reverse()
    return scopes


def qualified_scope(scopes: list[Scope]) -> str:
    return ".".join(s.name for s in scopes if s.name)
