"""The names the SDK, the write path, the read side and the SQL share are spelled in one place:
``ml.*`` attributes in ``modeltrace.attributes``, tables in ``storage/schema.py``."""

from __future__ import annotations

import ast
import pathlib
import re

from modeltrace import attributes as ml
from modeltrace_collector.storage import schema

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [p for p in (ROOT / "sdk").rglob("*.py")] + [p for p in (ROOT / "collector").rglob("*.py")]
SQL_FILES = list((ROOT / "collector").rglob("*.sql"))
ML_NAME = re.compile(r"ml\.[a-z_]+(?:\.[a-z_]+)*")
ML_LITERAL = re.compile(r"""["'](ml\.[a-z_]+(?:\.[a-z_]+)*)["']""")


def test_ml_attribute_names_are_spelled_only_in_the_attributes_module():
    spelled: dict[str, list[str]] = {}
    for path in SOURCES:
        if path.name == "attributes.py" or "proto_gen" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            # a string that is one attribute name (docstrings and messages may mention them)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and ML_NAME.fullmatch(node.value):
                spelled.setdefault(node.value, []).append(path.relative_to(ROOT).as_posix())
    assert spelled == {}


def test_the_sql_reads_only_attributes_the_sdk_names():
    read = {m.group(1) for path in SQL_FILES for m in ML_LITERAL.finditer(path.read_text("utf-8"))}
    assert read, "the views read no ml.* attribute: the pattern no longer matches the SQL"
    assert read - ml.ALL == set()
    # what the views parse as JSON is what the collector guards by size
    assert read >= ml.JSON_PARSED


def test_the_attribute_groups_hold_declared_names():
    assert ml.JSON_TEXT | ml.INT_VALUED | ml.BOOL_VALUED <= ml.ALL
    assert len(ml.ALL) == len({v for k, v in vars(ml).items() if k.isupper() and str(v).startswith("ml.")})


def test_every_table_the_sql_names_is_declared():
    named = set()
    for path in SQL_FILES:
        text = path.read_text("utf-8")
        named |= set(re.findall(r"\{(?:db|database)\}\.`?([a-z_0-9]+)", text))
        named |= set(re.findall(r"\bTABLE (?:IF (?:NOT )?EXISTS )?\{(?:db|database)\}\.`?([a-z_0-9]+)", text))
    assert named, "no table found in the SQL: the pattern no longer matches"
    assert named - {*schema.ALL_TABLES, *schema.VIEWS, schema.MIGRATIONS} == set()


def test_every_sql_file_uses_the_one_placeholder_style():
    for path in SQL_FILES:
        text = path.read_text("utf-8")
        assert "{database}" not in text, path
        # values are typed parameters {name:Type}; untyped {name} are fragments the code fills
        for name in re.findall(r"\{([A-Za-z_]+)\}", text):
            assert name in FRAGMENTS, f"{path.name}: unknown fragment {{{name}}}"


# the fragments the code fills in (storage/sqlfiles.py): the database, migration clauses,
# analysis sub-queries and conditions from fixed lists
FRAGMENTS = {
    "db", "on_cluster", "engine", "dedup_window", "ROWS_BUCKET", "PSI", "JS", "calls", "category", "kind",
    "ks_exact", "pairs", "source", "tag", "version", "columns", "where", "match_a", "match_b", "conditions",
    "span_columns", "time_filter", "order", "target", "labelled", "bad", "outcomes", "wrong", "wrong_column",
    "labelled_calls", "input_a", "input_b", "side", "rank", "sides", "feature",
}  # fmt: skip
