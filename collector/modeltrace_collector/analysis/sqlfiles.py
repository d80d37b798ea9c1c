"""The analyses' queries (``analysis/sql/*.sql``) with their shared fragments; placeholders as
``storage/sqlfiles.py`` describes them."""

from __future__ import annotations

import functools

from ..storage import sqlfiles

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
    text = sqlfiles.template("modeltrace_collector.analysis", name)
    for token, fragment in _FRAGMENTS.items():
        text = text.replace(token, fragment)
    return text


def sql(name: str, database: str, **fragments: str) -> str:
    """The named query with ``{db}`` and the given fragments filled in."""
    return sqlfiles.render(_raw(name), database, **fragments)
