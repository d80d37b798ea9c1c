"""Analysis queries live in ``analysis/sql/*.sql`` and are loaded here.

Templates only ever receive identifiers and fixed fragments through ``{token}`` substitution
(the database, a sub-query built from other templates, a choice from a fixed list); every value
goes to ClickHouse as a typed query parameter (``{name:Type}``).
"""

from __future__ import annotations

import functools
from importlib import resources

# Distances between two share vectors p (reference) and q (current), used by several templates.
# PSI with empty shares set to 1e-4 (as Evidently does); Jensen-Shannon distance with the natural
# log (as scipy.spatial.distance.jensenshannon).
# A call's batch size as a power-of-two bucket ('1', '<= 2', '<= 4', ...), a root-cause dimension.
ROWS_BUCKET = "if(InputRows <= 1, '1', concat('<= ', toString(toUInt64(exp2(ceil(log2(InputRows)))))))"

_FRAGMENTS = {
    "{ROWS_BUCKET}": ROWS_BUCKET,
    "{PSI}": (
        "arraySum((a, b) -> (if(b = 0, 1e-4, b) - if(a = 0, 1e-4, a))"
        " * log(if(b = 0, 1e-4, b) / if(a = 0, 1e-4, a)), p, q)"
    ),
    "{JS}": (
        "sqrt(greatest(0, arraySum((a, b) -> if(a > 0, a * log(2 * a / (a + b)), 0)"
        " + if(b > 0, b * log(2 * b / (a + b)), 0), p, q) / 2))"
    ),
}


@functools.cache
def _raw(name: str) -> str:
    text = resources.files("modeltrace_collector.analysis").joinpath("sql", f"{name}.sql").read_text("utf-8")
    for token, fragment in _FRAGMENTS.items():
        text = text.replace(token, fragment)
    return text


def sql(name: str, database: str, **tokens: str) -> str:
    """The named query with ``{db}`` and the given ``{token}`` fragments filled in."""
    text = _raw(name).replace("{db}", f"`{database}`")
    for token, value in tokens.items():
        text = text.replace("{" + token + "}", value)
    return text
