"""What a user query may contain, decided on ClickHouse's own parse of it (``EXPLAIN AST``).

The policy is a walk over the whole tree, refusal-biased: unknown node types are refused, every
function must be in the reviewed allowlist, every table must be in the product's database or one of
a few harmless ``system`` tables, and nothing may read through a table function.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .ast_dump import Node, walk
from .functions import UNBOUNDED_WORK, FunctionAllowlist

# Constant or generated rows with nothing about the host in them; the read caps bound them.
SYSTEM_TABLES = ("one", "numbers", "numbers_mt")
_BLOCKED_DATABASES = {"system", "information_schema"}
_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_IN_FUNCTIONS = {
    "in", "notin", "globalin", "globalnotin", "nullin", "notnullin", "globalnullin", "globalnotnullin",
}  # fmt: skip
# Node types a SELECT over tables is made of, as 24.8 and 26.x print them.
_NODE_TYPES = {
    "SelectWithUnionQuery", "SelectIntersectExceptQuery", "SelectQuery", "ExpressionList", "Function",
    "Identifier", "TableIdentifier", "Literal", "Asterisk", "QualifiedAsterisk", "ColumnsRegexpMatcher",
    "ColumnsListMatcher", "QualifiedColumnsRegexpMatcher", "QualifiedColumnsListMatcher",
    "ColumnsTransformerList", "ColumnsExceptTransformer", "ColumnsReplaceTransformer",
    "ColumnsReplaceTransformer::Replacement", "TablesInSelectQuery", "TablesInSelectQueryElement",
    "TableExpression", "TableJoin", "ArrayJoin", "Subquery", "WithElement", "OrderByElement",
    "WindowDefinition", "WindowListElement", "SampleRatio", "InterpolateElement",
}  # fmt: skip
# The refused node types people meet, named as they wrote them.
_CLAUSES = {
    "Set": "SETTINGS is not allowed: the API sets the limits of every query",
    "ColumnsApplyTransformer": "APPLY is not allowed: the function it applies is not visible to the check",
    "Explain": "EXPLAIN is not allowed",
}


# Words the formatter writes in capitals before a parenthesis that are not function calls.
_KEYWORDS = frozenset(
    """ALL AND ANTI ANY APPLY ARRAY AS ASC ASOF BETWEEN BY CASE COLUMNS CROSS CUBE CURRENT DESC DISTINCT
    ELSE END EXCEPT EXISTS FILL FINAL FOLLOWING FROM FULL GLOBAL GROUP GROUPS HAVING ILIKE IN INNER
    INTERPOLATE INTERSECT INTERVAL IS JOIN LEFT LIKE LIMIT NOT NULLS OFFSET ON OR ORDER OUTER OVER
    PARTITION PASTE PRECEDING PREWHERE QUALIFY RANGE REPLACE RIGHT ROLLUP ROW ROWS SAMPLE SELECT SEMI SETS
    SOME STALENESS STEP THEN TO TOP TOTALS UNBOUNDED UNION USING VALUES WHEN WHERE WINDOW WITH""".split()  # noqa: SIM905
)
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


class Refused(Exception):
    """The query is not allowed: ``status`` 403 (policy) or 400 (malformed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Policy:
    database: str
    functions: FunctionAllowlist
    driver_format: str = "Native"
    """The FORMAT clause the driver appends to every query, which EXPLAIN AST shows as the root's last child."""

    def check(self, root: Node) -> None:
        if root.type != "SelectWithUnionQuery":
            raise Refused(403, f"only SELECT queries are allowed, not {_statement(root.type)}")
        self._check_outputs(root)
        table_positions: set[int] = set()
        for node, parent in walk(root):
            if node.type not in _NODE_TYPES:
                raise Refused(403, _CLAUSES.get(node.type, f"{node.type} is not allowed in a query"))
            if node.type == "Function":
                self._check_function(node, in_from=parent is not None and parent.type == "TableExpression")
                if node.name.lower() in _IN_FUNCTIONS:
                    table_positions.update(id(n) for n in _in_right_side(node))
            elif node.type == "TableIdentifier" or (node.type == "Identifier" and id(node) in table_positions):
                self._check_table(node.text)
            elif node.type == "Identifier":
                self._check_column(node.text)

    def check_text(self, root: Node, unquoted: str) -> None:
        """Cross-checks of the tree against the canonical text (quotes blanked out), for parts a
        ClickHouse version leaves out of its dump: 24.x prints no window definitions, so a
        function in ``OVER (...)`` or ``WINDOW w AS (...)`` would not be seen."""
        nodes = [node for node, _ in walk(root)]
        inline = sum(1 for n in nodes for c in n.children if n.type == "Function" and c.type == "WindowDefinition")
        named = [n for n in nodes if n.type == "WindowListElement"]
        if len(re.findall(r"\bOVER \(", unquoted)) > inline or any(not n.children for n in named):
            raise Refused(
                403,
                "window definitions are not allowed on this ClickHouse version: its parse tree leaves them "
                "out, so the sandbox cannot check them",
            )
        for m in _CALL.finditer(unquoted):
            name = m.group(1)
            if name not in _KEYWORDS and name not in self.functions:
                raise Refused(403, _not_allowed(name))

    def _check_outputs(self, root: Node) -> None:
        """The root holds the union's ExpressionList, then INTO OUTFILE, FORMAT and SETTINGS if any."""
        extra = root.children[1:]
        if extra and extra[-1].type == "Identifier" and extra[-1].text == self.driver_format:
            extra = extra[:-1]
        for node in extra:
            if node.type == "Literal":
                raise Refused(403, "INTO OUTFILE is not allowed")
            if node.type == "Set":
                raise Refused(403, _CLAUSES["Set"])
            raise Refused(403, "FORMAT is not allowed: the API answers in JSON")
        if not root.children or root.children[0].type != "ExpressionList":
            raise Refused(403, "only SELECT queries are allowed")

    def _check_function(self, node: Node, in_from: bool) -> None:
        name = node.name
        if in_from:
            raise Refused(403, f"table function '{name}' is not allowed")
        if not _SAFE_NAME.fullmatch(name) or name not in self.functions:
            raise Refused(403, _not_allowed(name))

    def _check_table(self, name: str) -> None:
        parts = name.split(".")
        if all(_SAFE_NAME.fullmatch(p) for p in parts):
            if len(parts) == 1 or (len(parts) == 2 and parts[0] == self.database):
                return  # the product's database (the session's) or a CTE
            if len(parts) == 2 and parts[0] == "system" and parts[1] in SYSTEM_TABLES:
                return
        allowed = ", ".join(f"system.{t}" for t in SYSTEM_TABLES)
        raise Refused(403, f"table {name} is not allowed (allowed: the tables of {self.database}, {allowed})")

    def _check_column(self, name: str) -> None:
        # A column is `col`, `table.col` or `db.table.col`; one qualified by a database other
        # than the product's reads another database.
        first, dot, _ = name.partition(".")
        if dot and first.lower() in _BLOCKED_DATABASES:
            raise Refused(403, f"{name} is not allowed: it names the {first} database")


def _not_allowed(name: str) -> str:
    why = UNBOUNDED_WORK.get(name)
    return f"function '{name}' is not allowed" + (f": {why}" if why else "")


def _in_right_side(node: Node) -> list[Node]:
    """``x IN t``: the table name is the second argument of the IN function."""
    args = node.children[0].children if node.children and node.children[0].type == "ExpressionList" else []
    right = args[1:2]
    for r in right:
        if r.type == "Function" and r.name.lower() == "format":
            raise Refused(403, "table function 'format' is not allowed")  # the one name both kinds share
    return [r for r in right if r.type == "Identifier"]


def _statement(node_type: str) -> str:
    words = re.sub(r"Query$", "", node_type)
    return re.sub(r"(?<=[a-z])(?=[A-Z])", " ", words).upper() or node_type
