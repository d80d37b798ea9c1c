"""The ClickHouse side of the collector: schema, inserts with deduplication, reads."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from .client import StorageError, Target, connect
from .migrate import SchemaOptions, migrate

log = logging.getLogger("modeltrace.storage")


class Store:
    """One clickhouse-connect client shared by the writer and the read API.

    chDB allows one client per data directory and process, and serialises calls on it;
    a server client is thread-safe as well, so one client serves every thread.
    """

    def __init__(self, target: Target, options: SchemaOptions, client: Any = None) -> None:
        self.target = target
        self.options = options
        self.database = options.database
        self._client = client
        self._lock = threading.Lock()
        self.migrated = False
        self._pinged_at = float("-inf")
        self._ping_ok = False

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = connect(self.target)
        return self._client

    def migrate(self) -> list[str]:
        try:
            applied = [f"{m.version:04d}_{m.name}" for m in migrate(self.client, self.options)]
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"schema migration failed: {exc}") from exc
        self.migrated = True
        return applied

    def ensure_schema(self) -> None:
        """Migrate once, on the first write, when the store was unreachable at start."""
        if not self.migrated:
            applied = self.migrate()
            if applied:
                log.info("schema migrations applied: %s", ", ".join(applied))

    def insert(self, table: str, columns: list[list[Any]], names: tuple[str, ...], token: str) -> None:
        """Insert column-oriented rows; a repeat with the same ``token`` stores nothing."""
        try:
            self.client.insert(
                f"{self.database}.{table}",
                columns,
                column_names=list(names),
                column_oriented=True,
                settings={"insert_deduplication_token": token},
            )
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"insert into {table} failed: {exc}") from exc

    def query(self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Any:
        return self.client.query(sql, parameters=parameters or {}, settings=settings or {})

    def ping(self, max_age: float = 2.0) -> bool:
        """Whether storage answers; remembered for ``max_age`` seconds so probes stay cheap."""
        now = time.monotonic()
        if now - self._pinged_at < max_age:
            return self._ping_ok
        try:
            self.client.query("SELECT 1")
            ok = True
        except Exception:
            ok = False
        self._pinged_at, self._ping_ok = time.monotonic(), ok
        return ok

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:
                log.debug("closing the ClickHouse client failed", exc_info=True)
