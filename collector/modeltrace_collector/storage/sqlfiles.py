"""Every query the collector runs lives in a ``.sql`` file and is loaded here.

One placeholder style everywhere:

- ``{db}`` is the configured database, quoted as an identifier;
- ``{name}`` (no type) is a fixed fragment chosen by the code: a sub-query built from other
  templates, a condition from a fixed list, a clause of a migration. It never carries a value;
- ``{name:Type}`` is a value, sent to ClickHouse as a typed query parameter and never spliced
  into the text.

Files: ``storage/migrations`` (the schema), ``analysis/sql`` (the analyses' questions) and
``query/sql`` (the read side: API, Jaeger, UI).
"""

from __future__ import annotations

import functools
import re
from importlib import resources

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# a placeholder that render() did not fill: a fragment without a type
_UNFILLED = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@functools.cache
def template(package: str, name: str) -> str:
    """The text of ``<package>/sql/<name>.sql`` without its comment lines (a comment may name a
    fragment, and a fragment spliced into a comment would end it early)."""
    text = resources.files(package).joinpath("sql", f"{name}.sql").read_text("utf-8")
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))


def quote_database(database: str) -> str:
    if not _IDENTIFIER.fullmatch(database):
        raise ValueError(f"database name {database!r} must be a plain identifier")
    return f"`{database}`"


def render(text: str, database: str, **fragments: str) -> str:
    """``text`` with ``{db}`` and the given fragments filled in; a fragment left unfilled is
    an error here rather than a syntax error from ClickHouse."""
    text = text.replace("{db}", quote_database(database))
    for name, fragment in fragments.items():
        text = text.replace("{" + name + "}", fragment)
    missing = _UNFILLED.findall(text)
    if missing:
        raise KeyError(f"fragments not given: {sorted(set(missing))}")
    return text


def query(package: str, name: str, database: str, **fragments: str) -> str:
    """``<package>/sql/<name>.sql`` rendered for ``database`` with the given fragments."""
    return render(template(package, name), database, **fragments)
