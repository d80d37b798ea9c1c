"""The ClickHouse side of the collector: schema, inserts with deduplication, reads.

Work is split into *lanes*, each with its own clients and a bound on how many of its calls
run at once, so that reads never hold up writes:

- ``write``: the spool writer alone (one client);
- ``api``: the JSON API and the Jaeger readers;
- ``analysis``: the analysis runs, their inserts (findings, drift scores) and references;
- ``sql``: user SQL from the API, with its own caps;
- ``health``: the readiness ping.

On chDB every client is its own connection handle to the process's one engine, and
handles run queries at the same time; on a server every client is an HTTP client without
a session. A call that finds every client of its lane busy waits, up to a bound, then
raises ``StorageBusy``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import client as client_module
from . import sqlfiles
from .errors import StorageBusy, StorageError, classify
from .migrate import SchemaOptions, migrate

log = logging.getLogger("modeltrace.storage")

DEFAULT_LANES = {"write": 1, "api": 4, "analysis": 2, "sql": 2, "health": 1}
# The analysis yields the CPU to the writer: its queries' threads run at a lower OS priority
# (nice). User SQL does the same through its lane's session settings (query/sql_sandbox.py).
LANE_SETTINGS: dict[str, dict[str, Any]] = {"analysis": {"os_thread_priority": 10}}

# Every insert: deduplicate replays in the target table and in every table a materialized
# view fills from it (off by default before ClickHouse 26.2), synchronously, and let a
# backfill touch any number of daily partitions in one block.
INSERT_SETTINGS = {
    "insert_deduplicate": 1,
    "deduplicate_blocks_in_dependent_materialized_views": 1,
    "async_insert": 0,
    "max_partitions_per_insert_block": 0,
}


class Lane:
    """Up to ``size`` clients, made on first use; a call waits for a free one."""

    def __init__(self, name: str, size: int, factory: Callable[[], Any]) -> None:
        self.name = name
        self.size = size
        self._factory = factory
        self._slots = threading.BoundedSemaphore(size)
        self._lock = threading.Lock()
        self._free: list[Any] = []
        self._made: list[Any] = []
        self.in_use = 0
        self.waits = 0

    @contextlib.contextmanager
    def client(self, timeout: float | None, discard_on_error: bool = False) -> Iterator[Any]:
        """A free client; with ``discard_on_error`` one whose caller raised is closed instead of
        reused (a chDB handle answers its next call with the rest of a stream that failed)."""
        if not self._slots.acquire(timeout=-1 if timeout is None else timeout):
            self.waits += 1
            raise StorageBusy(f"all {self.size} {self.name} connections are busy; try again later")
        try:
            with self._lock:
                c = self._free.pop() if self._free else None
                self.in_use += 1
            if c is None:
                c = self._factory()
                with self._lock:
                    self._made.append(c)
            try:
                yield c
            except BaseException:
                if not discard_on_error:
                    with self._lock:
                        self._free.append(c)
                    raise
                with self._lock:
                    self._made.remove(c)
                try:
                    c.close()
                except Exception:
                    log.debug("closing a ClickHouse client failed", exc_info=True)
                raise
            else:
                with self._lock:
                    self._free.append(c)
        finally:
            with self._lock:
                self.in_use -= 1
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            made, self._made, self._free = self._made, [], []
        for c in made:
            try:
                c.close()
            except Exception:
                log.debug("closing a ClickHouse client failed", exc_info=True)


class Store:
    def __init__(
        self,
        target: client_module.Target,
        options: SchemaOptions,
        client: Any = None,
        lanes: dict[str, int] | None = None,
        wait_seconds: float = 30.0,
        lane_settings: dict[str, dict[str, Any]] | None = None,
        lane_targets: dict[str, client_module.Target] | None = None,
    ) -> None:
        """``client``: one ready client for every lane (tests); otherwise clients are made
        per lane by ``storage.client.connect``, with ``lane_settings[lane]`` as their session
        settings (a ``readonly`` there is applied last, and only where the user may still set it),
        and ``lane_targets[lane]`` instead of ``target`` if given (a read-only server user)."""
        self.target = target
        self.options = options
        self.database = options.database
        self.wait_seconds = wait_seconds
        self._shared = client
        self.lane_settings = lane_settings or {}
        self.lane_targets = lane_targets or {}
        sizes = {**DEFAULT_LANES, **(lanes or {})}
        self.lanes = {name: Lane(name, size, self._factory(name)) for name, size in sizes.items()}
        self.migrated = False
        self._pinged_at = float("-inf")
        self._version: str | None = None
        self._ping_ok = False

    def _factory(self, lane: str) -> Callable[[], Any]:
        def make() -> Any:
            if self._shared is not None:
                return self._shared
            # The SQL lane runs user queries in the product's database, so unqualified
            # table names resolve there; the other lanes qualify every name. Until the schema
            # exists there is no database to run them in, and a client made now would keep the
            # default database for good.
            database = None
            if lane == "sql":
                if not self.migrated:
                    raise StorageError("the schema is not migrated yet; storage is still starting")
                database = self.database
            settings = dict(self.lane_settings.get(lane, {}))
            readonly = settings.pop("readonly", None)
            c = client_module.connect(self.lane_targets.get(lane, self.target), database, **settings)
            if readonly:
                client_module.make_readonly(c, int(readonly))
            return c

        return make

    @contextlib.contextmanager
    def _client(self, lane: str, timeout: float | None = None) -> Iterator[Any]:
        with self.lanes[lane].client(self.wait_seconds if timeout is None else timeout) as c:
            yield c

    @contextlib.contextmanager
    def session(self, lane: str, timeout: float | None = None) -> Iterator[Any]:
        """A client of ``lane`` for several calls in a row (the SQL sandbox's parse, check and run);
        ``StorageBusy`` when none frees up within ``timeout``. A client whose caller raised is
        closed, and the next call makes a new one."""
        if self._shared is not None:
            with self._client(lane, timeout) as c:
                yield c
            return
        with self.lanes[lane].client(self.wait_seconds if timeout is None else timeout, discard_on_error=True) as c:
            yield c

    @property
    def client(self) -> Any:
        """A client of the write lane, for maintenance and tests (not for concurrent use)."""
        with self._client("write") as c:
            return c

    # -- schema -------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        try:
            with self._client("write") as c:
                applied = [f"{m.version:04d}_{m.name}" for m in migrate(c, self.options)]
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"schema migration failed: {exc}", classify(exc)) from exc
        self.migrated = True
        return applied

    def ensure_schema(self) -> None:
        """Migrate once, on the first write, when the store was unreachable at start."""
        if not self.migrated:
            applied = self.migrate()
            if applied:
                log.info("schema migrations applied: %s", ", ".join(applied))

    # -- writes -------------------------------------------------------------------------

    def insert(
        self,
        table: str,
        columns: list[list[Any]],
        names: tuple[str, ...],
        token: str,
        lane: str = "analysis",
        ignore_view_errors: bool = False,
    ) -> None:
        """Insert column-oriented rows; a repeat with the same ``token`` stores nothing.

        ``ignore_view_errors``: a materialized view that fails loses these rows instead of
        failing the insert. Failures raise ``StorageError`` with the failure classified."""
        settings = {**INSERT_SETTINGS, "insert_deduplication_token": token}
        if ignore_view_errors:
            settings["materialized_views_ignore_errors"] = 1
        try:
            with self._client(lane) as c:
                c.insert(
                    f"{self.database}.{table}",
                    columns,
                    column_names=list(names),
                    column_oriented=True,
                    settings=settings,
                )
        except StorageError:
            raise
        except Exception as exc:
            failure = classify(exc)
            raise StorageError(f"insert into {table} failed: {failure.message}", failure) from exc

    # -- reads --------------------------------------------------------------------------

    def query(
        self,
        sql: str,
        parameters: dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
        lane: str = "api",
        timeout: float | None = None,
    ) -> Any:
        """Run a read on a client of ``lane``; ``timeout``: how long to wait for a free one."""
        with self._client(lane, timeout) as c:
            return c.query(
                sql, parameters=parameters or {}, settings={**LANE_SETTINGS.get(lane, {}), **(settings or {})}
            )

    def spans_stored(self, pairs: list[tuple[str, str]], first_ns: int, last_ns: int) -> set[tuple[str, str]]:
        """Which of these (trace id, span id) pairs ``otel_traces`` holds between the two times:
        the writer's check of a batch that a crash interrupted, or that a view refused."""
        sql = sqlfiles.query(__package__, "spans_stored", self.database)
        found: set[tuple[str, str]] = set()
        try:
            with self._client("write") as c:
                # In slices: the pairs travel as a query parameter, in the URL on a server.
                for i in range(0, len(pairs), 2000):
                    params = {"first": first_ns, "last": last_ns, "pairs": pairs[i : i + 2000]}
                    found.update((str(t), str(s)) for t, s in c.query(sql, parameters=params).result_rows)
        except StorageError:
            raise
        except Exception as exc:
            failure = classify(exc)
            raise StorageError(f"cannot read otel_traces: {failure.message}", failure) from exc
        return found

    def server_version(self) -> str | None:
        """ClickHouse's version, asked once it answers (None while it does not)."""
        if self._version is None:
            try:
                self._version = str(self.query("SELECT version()", lane="health", timeout=5.0).result_rows[0][0])
            except Exception:
                return None
        return self._version

    def ping(self, max_age: float = 2.0) -> bool:
        """Whether storage answers; remembered for ``max_age`` seconds so probes stay cheap."""
        now = time.monotonic()
        if now - self._pinged_at < max_age:
            return self._ping_ok
        try:
            self.query("SELECT 1", lane="health", timeout=5.0)
            ok = True
        except StorageBusy:
            ok = self._ping_ok  # another probe is asking right now
        except Exception:
            ok = False
        self._pinged_at, self._ping_ok = time.monotonic(), ok
        return ok

    def lane_stats(self) -> dict[str, tuple[int, int, int]]:
        """Per lane: (size, calls running now, calls that gave up waiting)."""
        return {name: (lane.size, lane.in_use, lane.waits) for name, lane in self.lanes.items()}

    def lane_size(self, lane: str = "analysis") -> int:
        """How many queries of ``lane`` can run at once."""
        return self.lanes[lane].size

    def on(self, lane: str) -> LaneView:
        """This store with ``lane`` as the default lane of its reads and inserts."""
        return LaneView(self, lane)

    def close(self) -> None:
        if self._shared is not None:
            self._shared = None  # owned by whoever passed it in
            return
        for lane in self.lanes.values():
            lane.close()


class LaneView:
    """A store whose reads and inserts go to one lane (what the analysis and readers hold)."""

    def __init__(self, store: Store, lane: str) -> None:
        self._store = store
        self._lane = lane
        self.database = store.database

    def query(self, sql: str, parameters: dict[str, Any] | None = None, settings: dict[str, Any] | None = None) -> Any:
        return self._store.query(sql, parameters, settings, lane=self._lane)

    def insert(self, table: str, columns: list[list[Any]], names: tuple[str, ...], token: str) -> None:
        self._store.insert(table, columns, names, token, lane=self._lane)

    def lane_size(self) -> int:
        """How many queries of this lane can run at once."""
        return self._store.lanes[self._lane].size

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


# What the analyses and the read side hold: the store itself, or a view of one of its lanes.
StoreView = Store | LaneView
