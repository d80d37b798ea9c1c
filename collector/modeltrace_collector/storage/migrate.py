"""Numbered, forward-only schema migrations (``migrations/NNNN_name.sql``, one statement each).

Each file is rendered for the deployment (database, TTL, engine, cluster) and applied once;
``modeltrace_schema_migrations`` records what was applied. Running again is a no-op.

Placeholders (``storage/sqlfiles.py``): ``{db}``, ``{on_cluster}``, ``{engine}`` and
``{engine:XMergeTree}`` (replicated on a cluster), ``{ttl:expr}`` and ``{dedup_window}``, the
settings that make a table keep the hashes of its last inserted blocks, so that a replayed
insert (same deduplication token) is dropped in it and in every table its materialized views fill.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from . import schema, sqlfiles

log = logging.getLogger("modeltrace.storage")

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_TTL = re.compile(r"\{ttl:([^}]*)\}")
_ENGINE = re.compile(r"\{engine:([A-Za-z]*)MergeTree\}")
MIGRATIONS_TABLE = schema.MIGRATIONS
# Blocks whose hashes a table keeps: far more than all collectors insert into it between a batch
# and its replay. Replicated tables also forget hashes older than a time, an hour by default from
# ClickHouse 25.10 on (a week before): a week here, so a replay after a long outage still matches.
DEDUP_WINDOW_BLOCKS = 10_000
DEDUP_WINDOW_SECONDS = 7 * 86400


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


@dataclass(frozen=True)
class SchemaOptions:
    database: str = "modeltrace"
    ttl_days: float = 0.0
    cluster: str | None = None


def available() -> list[Migration]:
    """Every migration shipped with the package, in order."""
    out = []
    for entry in resources.files("modeltrace_collector.storage.migrations").iterdir():
        m = _NAME.match(entry.name)
        if m:
            out.append(Migration(int(m.group(1)), m.group(2), entry.read_text(encoding="utf-8")))
    out.sort(key=lambda m: m.version)
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"duplicate migration numbers: {versions}")
    return out


def ttl_clause(expr: str, days: float) -> str:
    if days <= 0:
        return ""
    seconds = round(days * 86400)
    if seconds % 86400 == 0:
        return f"TTL {expr} + toIntervalDay({seconds // 86400})"
    if seconds % 3600 == 0:
        return f"TTL {expr} + toIntervalHour({seconds // 3600})"
    return f"TTL {expr} + toIntervalSecond({seconds})"


def dedup_window(options: SchemaOptions) -> str:
    """The deduplication window of a table of ``{engine}`` (replicated on a cluster)."""
    if options.cluster:
        return (
            f"replicated_deduplication_window = {DEDUP_WINDOW_BLOCKS}, "
            f"replicated_deduplication_window_seconds = {DEDUP_WINDOW_SECONDS}"
        )
    return f"non_replicated_deduplication_window = {DEDUP_WINDOW_BLOCKS}"


def render(sql: str, options: SchemaOptions) -> str:
    on_cluster = f"ON CLUSTER '{options.cluster}'" if options.cluster else ""
    engine = "ReplicatedMergeTree" if options.cluster else "MergeTree()"
    sql = _TTL.sub(lambda m: ttl_clause(m.group(1), options.ttl_days), sql)
    # {engine:AggregatingMergeTree} and the like: the same family, replicated on a cluster
    sql = _ENGINE.sub(
        lambda m: f"Replicated{m.group(1)}MergeTree" if options.cluster else f"{m.group(1)}MergeTree()", sql
    )
    return sqlfiles.render(
        sql, options.database, on_cluster=on_cluster, engine=engine, dedup_window=dedup_window(options)
    )


def _sql(name: str, options: SchemaOptions) -> str:
    on_cluster = f"ON CLUSTER '{options.cluster}'" if options.cluster else ""
    return sqlfiles.query(__package__, name, options.database, on_cluster=on_cluster)


def applied(client: Any, options: SchemaOptions) -> list[int]:
    rows = client.query(_sql("migrations_applied", options)).result_rows
    return [int(r[0]) for r in rows]


def migrate(client: Any, options: SchemaOptions) -> list[Migration]:
    """Apply the migrations not yet applied; returns those it applied."""
    client.command(_sql("create_database", options))
    client.command(_sql("migrations_table", options))
    done = set(applied(client, options))
    newly = []
    for migration in available():
        if migration.version in done:
            continue
        log.info("applying migration %04d_%s", migration.version, migration.name)
        client.command(render(migration.sql, options))
        client.insert(
            f"{options.database}.{MIGRATIONS_TABLE}",
            [[migration.version, migration.name]],
            column_names=["version", "name"],
            column_type_names=["UInt32", "String"],  # saves asking the server for them
        )
        newly.append(migration)
    return newly
