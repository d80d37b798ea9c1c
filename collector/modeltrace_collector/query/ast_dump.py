"""ClickHouse's ``EXPLAIN AST`` text as a tree, refusing any text that is not a consistent dump.

Each line is one node: ``<indent><Type>[ <name or value>][ (alias <alias>)][ (children <n>)]``,
one space of indent per level (the same on 24.8 and 26.x). Identifiers, aliases and function names
are printed raw, literals quoted and escaped; a node with no ``(children n)`` has none. The sandbox
refuses identifiers that could print a line break before it gets here, so a line is a node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_LINE = re.compile(
    r"(?P<indent> *)(?P<type>[A-Za-z][A-Za-z_]*(?:::[A-Za-z]+)?)(?P<rest>.*?)(?: \(children (?P<n>\d+)\))?"
)
_ALIAS = " (alias "


class DumpError(ValueError):
    """The text is not a dump this parser understands: the query is refused."""


@dataclass
class Node:
    type: str
    text: str
    """What follows the type: a function or table name, a literal, an identifier ("" if none)."""
    alias: str | None
    declared: int
    line: int
    children: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The first word of ``text``: a function's name (they have no spaces)."""
        return self.text.split(" ", 1)[0]


def _node(line: str, number: int) -> tuple[int, Node]:
    m = _LINE.fullmatch(line)
    if m is None:
        raise DumpError(f"line {number} is not an AST node: {line[:80]!r}")
    rest = m.group("rest")
    if rest and not rest.startswith(" "):
        raise DumpError(f"line {number} is not an AST node: {line[:80]!r}")
    text, alias = rest, None
    cut = rest.find(_ALIAS)
    if cut >= 0 and rest.endswith(")"):
        text, alias = rest[:cut], rest[cut + len(_ALIAS) : -1]
    declared = int(m.group("n") or 0)
    return len(m.group("indent")), Node(m.group("type"), text[1:], alias, declared, number)


def parse(dump: str) -> Node:
    """The root node of ``dump``; ``DumpError`` unless every line is a node at the right depth and
    every node has exactly the children it declares."""
    lines = dump.rstrip("\n").split("\n")
    if not lines or not lines[0]:
        raise DumpError("empty AST")
    stack: list[Node] = []
    root: Node | None = None
    for number, line in enumerate(lines, 1):
        depth, node = _node(line, number)
        while len(stack) > depth:
            _close(stack.pop())
        if depth != len(stack) or (depth == 0 and root is not None):
            raise DumpError(f"line {number} is at depth {depth} under a node at depth {len(stack) - 1}")
        if stack:
            stack[-1].children.append(node)
        else:
            root = node
        stack.append(node)
    while stack:
        _close(stack.pop())
    if root is None:
        raise ValueError("EXPLAIN AST printed no tree")
    return root


def _close(node: Node) -> None:
    if len(node.children) != node.declared:
        raise DumpError(f"line {node.line}: {node.type} declares {node.declared} children and has {len(node.children)}")


def walk(root: Node) -> list[tuple[Node, Node | None]]:
    """Every node with its parent, depth first, without recursion (dumps can be deep)."""
    out: list[tuple[Node, Node | None]] = []
    todo: list[tuple[Node, Node | None]] = [(root, None)]
    while todo:
        node, parent = todo.pop()
        out.append((node, parent))
        todo.extend((child, node) for child in reversed(node.children))
    return out
