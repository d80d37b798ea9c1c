"""Open a ClickHouse client from a DSN: ``chdb://[path]`` (embedded) or ``http(s)://...`` (server)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .errors import RETRY, Failure, StorageError

__all__ = ["StorageError", "Target", "connect", "make_readonly", "resolve"]


@dataclass(frozen=True)
class Target:
    dsn: str
    embedded: bool
    path: str | None = None
    memory_mb: float = 0.0
    """Embedded only: chDB's ``max_server_memory_usage`` (0: ClickHouse's default)."""


def resolve(dsn: str, data_dir: str, memory_mb: float = 0.0) -> Target:
    """Normalise a storage DSN; ``chdb://`` alone means ``<data_dir>/chdb``."""
    parsed = urlparse(dsn)
    if parsed.scheme == "chdb":
        path = (parsed.netloc + parsed.path) or os.path.join(data_dir, "chdb")
        path = os.path.abspath(path)
        return Target(f"chdb://{path}", True, path, memory_mb)
    if parsed.scheme in ("http", "https"):
        if not parsed.hostname:
            raise ValueError(f"storage DSN {dsn!r} has no host")
        return Target(dsn, False)
    raise ValueError(f"storage DSN must start with chdb:// or http(s)://, not {dsn!r}")


def connect(target: Target, database: str | None = None, **settings: Any) -> Any:
    """A new clickhouse-connect client for ``target``, with no session of its own.

    A ClickHouse server refuses concurrent queries in one session (SESSION_IS_LOCKED), so
    clients never share one: each thread that queries at the same time uses its own client.
    On chDB every client is its own connection handle to the one engine of the process.
    """
    import clickhouse_connect
    from clickhouse_connect.driver.client import Client

    client: Client
    try:
        if target.embedded:
            if target.path is None:
                raise StorageError("an embedded chDB needs a path")
            os.makedirs(target.path, exist_ok=True)
            if target.memory_mb > 0:
                from clickhouse_connect.driver._chdbclient import ChdbClient

                limit = {"max_server_memory_usage": int(target.memory_mb * (1 << 20))}
                client = ChdbClient(path=target.path, settings=settings or None, chdb_options=limit)
            else:
                client = clickhouse_connect.get_client(dsn=f"chdb://{target.path}", settings=settings or None)
        else:
            client = clickhouse_connect.get_client(
                dsn=target.dsn, settings=settings or None, connect_timeout=5, autogenerate_session_id=False
            )
    except Exception as exc:  # driver errors vary by backend
        # Whatever the driver says (refused, timed out, the embedded store locked by another
        # process), storage is not there yet: retry later, never give up on the rows.
        message = f"cannot open ClickHouse at {target.dsn}: {' '.join(str(exc).split())[:400]}"
        raise StorageError(message, Failure(RETRY, "CANNOT_CONNECT", message)) from exc
    if database:
        client.database = database
    return client


def make_readonly(client: Any, level: int = 1) -> None:
    """Refuse writes, DDL and setting changes on every later query of ``client``. A server user
    whose profile is readonly already may not change ``readonly`` at all, and needs nothing."""
    current = int(client.query("SELECT toUInt8(getSetting('readonly'))").result_rows[0][0])
    if current == 0:
        client.set_client_setting("readonly", str(level))
