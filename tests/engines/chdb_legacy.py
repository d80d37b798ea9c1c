"""clickhouse-connect clients over chdb 2.1.1 (ClickHouse 24.8.4), for running the tests on 24.8.

chdb 2.1.1 predates ``chdb.connect``, which clickhouse-connect's chDB client needs: it has one
engine per process, reached with ``chdb.query(sql, format, path=...)``, and the engine's session
state (``USE``, ``SET``) is shared by every call of the process. So this module keeps
clickhouse-connect's own client (query binding, insert contexts, the Native codec for results and
inserts, result objects) and swaps only the part that runs statements, as its chDB backend does:

- each call is one script ``USE <db>; SET param_<name> = '<value>'; <statement>`` run under one
  process-wide lock, so no other client sees its database or parameters in between;
- query parameters are bound by ClickHouse (``SET param_*`` carries the same text as HTTP's
  ``param_*``); per-call settings ride as a ``SETTINGS`` clause of that statement only;
- results come back as ``FORMAT Native``; inserts are serialised to Native by clickhouse-connect
  and read with ``INSERT ... FROM INFILE``;
- a stream (``query_row_block_stream``) is the whole result, read at once: chdb 2.1.1 cannot stream.

Limits: a ``SET param_*`` outlives its call, so a query that forgets a parameter may see an
earlier query's value here (the run on 26.x refuses it); chdb 2.1.1 takes no engine options, so
``storage.embedded_memory_mb`` does nothing; raw queries and external data are absent.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

import chdb
from clickhouse_connect import common
from clickhouse_connect.driver._backend.chdb_backend import CHDB_TRANSPORT_SETTINGS
from clickhouse_connect.driver._backend.models import Capabilities, CommandExecution, QueryExecution
from clickhouse_connect.driver._backendclient import SyncBackendClient
from clickhouse_connect.driver.binding import quote_identifier
from clickhouse_connect.driver.exceptions import DatabaseError, NotSupportedError, ProgrammingError
from clickhouse_connect.driver.transform import NativeTransform

from modeltrace_collector.storage import client as client_module
from modeltrace_collector.storage.errors import StorageError

ENGINE_VERSION = "24.8.4"
# One engine per process, and its USE/SET state is the process's: one statement at a time.
_ENGINE_LOCK = threading.Lock()
_initial_database: list[str] = []
_DROP_DATABASE = re.compile(r"\s*DROP\s+DATABASE\s", re.IGNORECASE)
_UNFINISHED = 341
_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def available() -> bool:
    """Whether the installed chdb is the 2.1.x one this adapter drives."""
    return getattr(chdb, "__version__", "").startswith("2.1.") and not hasattr(chdb, "connect")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _settings_clause(settings: dict[str, Any]) -> str:
    # a number as a number: 24.8 does not read a quoted one into every numeric setting
    values = {k: str(v) if _NUMBER.fullmatch(str(v)) else _literal(str(v)) for k, v in settings.items()}
    return ", ".join(f"{name} = {value}" for name, value in values.items())


def _strip_format_prefix(chunk: bytes) -> bytes:
    """clickhouse-connect's Native insert body starts with its ``INSERT ... FORMAT Native`` line."""
    newline = chunk.find(b"\n")
    return chunk[newline + 1 :] if chunk.startswith(b"INSERT ") and newline >= 0 else chunk


class _Bytes:
    """A one-chunk byte source, as clickhouse-connect's response buffer reads them."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.last_message: bytes | None = None
        self.exception_tag: str | None = None

    @property
    def gen(self) -> Any:
        yield self.data

    def close(self) -> None:
        pass


class LegacyChdbBackend:
    capabilities = Capabilities(native_async=False, sessions=False)

    def __init__(self, path: str, client_settings: dict[str, str]) -> None:
        self.path = path
        self.client_settings = client_settings
        self.closed = False
        self.held: list[str] | None = None  # statements held back by one_call()
        self.held_files: list[str] = []

    def run(self, statement: str, fmt: str, database: str | None, params: dict[str, str] | None = None) -> bytes:
        """Runs ``statement`` in ``database`` with ``params`` bound; in one_call(), a statement
        without a result waits for the next one that has one, or for the end of the block."""
        if self.closed:
            raise ProgrammingError("The client has been closed")
        with _ENGINE_LOCK:
            if not _initial_database:  # where unqualified names go for a client without a database
                _initial_database.append(self._call("SELECT currentDatabase()", "TSVRaw").decode().strip())
            script = [f"USE {quote_identifier(database or _initial_database[0])}"]
            for name, value in (params or {}).items():
                key = name if name.startswith("param_") else f"param_{name}"
                script.append(f"SET {key} = {_literal(value)}")
            script.append(statement)
            if self.held is not None and fmt != "Native":
                self.held.extend(script)
                return b""
            return self._call(";\n".join([*self.release(), *script]), fmt)

    def release(self) -> list[str]:
        held, self.held = self.held, ([] if self.held is not None else None)
        return held or []

    def _call(self, sql: str, fmt: str) -> bytes:
        try:
            result = chdb.query(sql, fmt, path=self.path)
        except chdb.ChdbError as exc:
            message = str(exc)
            code = message.split("Code: ", 1)[1].split(".", 1)[0] if "Code: " in message else ""
            raise DatabaseError(message, code=int(code) if code.isdigit() else None) from None
        return bytes(result.bytes() or b"")

    def _settings(self, runtime: Any) -> dict[str, Any]:
        settings = {**self.client_settings, **runtime.settings}
        return {k: v for k, v in settings.items() if k not in CHDB_TRANSPORT_SETTINGS}  # HTTP's, not the engine's

    def execute_query(self, context: Any, runtime: Any, prepped_query: str | bytes, /) -> QueryExecution:
        if context.external_data is not None or context.is_insert:
            raise NotSupportedError("external data and INSERT through query() are not needed here")
        sql = prepped_query.decode() if isinstance(prepped_query, bytes) else prepped_query
        sql += "\nFORMAT Native"
        settings = self._settings(runtime)
        # After FORMAT, where every statement with a result takes them (SHOW too); not on an EXPLAIN,
        # which only parses here and would show them in its tree as part of the query explained.
        if settings and not sql.lstrip()[:8].upper().startswith("EXPLAIN"):
            sql += f"\nSETTINGS {_settings_clause(settings)}"
        data = self.run(sql, "Native", runtime.database, context.bind_params)
        return QueryExecution(source=_Bytes(data))

    def execute_command(
        self,
        bound_cmd: str | bytes,
        bind_params: dict[str, str],
        data: str | bytes | None,
        external_data: Any,
        runtime: Any,
        transport_settings: Any,
        /,
    ) -> CommandExecution:
        if data is not None or external_data is not None or runtime.settings:
            raise NotSupportedError("commands with data or settings are not needed here")
        cmd = bound_cmd.decode() if isinstance(bound_cmd, bytes) else bound_cmd
        if _DROP_DATABASE.match(cmd):
            return self._drop_database(cmd, runtime.database)
        # As over HTTP, a statement with a result set reports it even when empty: its names line.
        body = self.run(cmd, "TabSeparatedWithNames", runtime.database, bind_params)
        if not body:
            return CommandExecution(body=b"")
        newline = body.find(b"\n")
        return CommandExecution(body=body[newline + 1 :] if newline >= 0 else b"", result_format="TabSeparated")

    def _drop_database(self, cmd: str, database: str | None) -> CommandExecution:
        # chdb 2.1.1 never runs ClickHouse's background removal of dropped tables (its engine
        # counts as shutting down between calls), and after a plain DROP DATABASE the next DROP
        # of a view waits for it forever. A synchronous drop detaches everything at once, then
        # reports that removing the files is left for later (UNFINISHED), which is all it can do.
        try:
            self.run(f"{cmd.rstrip().rstrip(';')} SYNC", "TabSeparated", database)
        except DatabaseError as exc:
            if exc.code != _UNFINISHED:
                raise
        return CommandExecution(body=b"")

    def execute_data_insert(self, context: Any, runtime: Any, body: Any, retry_body: Any, /) -> dict[str, Any]:
        if isinstance(context.compression, str):
            raise NotSupportedError("compressed inserts are not needed here")
        fd, name = tempfile.mkstemp(suffix=".native")
        try:
            with os.fdopen(fd, "wb") as f:
                for i, chunk in enumerate(body):
                    if context.insert_exception is not None:
                        raise context.insert_exception
                    f.write(_strip_format_prefix(chunk) if i == 0 else chunk)
            cols = ", ".join(quote_identifier(c) for c in context.column_names)
            settings = self._settings(runtime)
            clause = f" SETTINGS {_settings_clause(settings)}" if settings else ""
            sql = f"INSERT INTO {context.table} ({cols}) FROM INFILE {_literal(name)}{clause} FORMAT Native"
            self.run(sql, "TabSeparated", runtime.database)
        finally:
            if self.held is not None:
                self.held_files.append(name)  # read when the held statements run
            else:
                with contextlib.suppress(OSError):
                    os.unlink(name)
        return {}

    def execute_raw_insert(self, *args: Any) -> dict[str, Any]:
        raise NotSupportedError("raw inserts are not needed here")

    def execute_raw_query(self, *args: Any) -> bytes:
        raise NotSupportedError("raw queries are not needed here")

    def execute_raw_stream(self, *args: Any) -> Any:
        raise NotSupportedError("raw streams are not needed here")

    def ping(self, timeout: float | None = None) -> bool:
        try:
            return self.run("SELECT 1", "TabSeparated", None).strip() == b"1"
        except Exception:
            return False

    def close(self) -> None:
        self.closed = True  # the engine belongs to the process, not to a client

    def close_connections(self) -> None:
        pass


class LegacyChdbClient(SyncBackendClient):
    """clickhouse-connect's client, its statements run by chdb 2.1.1 on the data directory ``path``."""

    def __init__(self, path: str, database: str | None = None, settings: dict[str, Any] | None = None) -> None:
        self.path = path
        self._transform = NativeTransform()
        self._client_settings: dict[str, str] = {}
        self._backend = LegacyChdbBackend(path, self._client_settings)
        self._initial_settings = settings
        super().__init__(
            database=database,
            query_limit=0,
            uri=f"chdb://{path}",
            query_retries=0,
            server_host_name=None,
            autoconnect=True,
        )
        for key, value in (settings or {}).items():
            self.set_client_setting(key, value)

    def set_client_setting(self, key: str, value: Any) -> None:
        text = self._validate_setting(key, value, common.get_setting("invalid_setting_action"))
        if text is not None:
            self._client_settings[key] = text

    def get_client_setting(self, key: str) -> str | None:
        return self._client_settings.get(key)

    def set_access_token(self, access_token: str) -> None:
        pass


@contextlib.contextmanager
def one_call(client: LegacyChdbClient) -> Iterator[None]:
    """Holds back the commands and inserts ``client`` makes in this block and runs them in one
    chdb call: with the next query (before it) or at the end of the block, where any of their
    errors is raised. The same statements in the same order, for a fixture that makes a schema:
    chdb 2.1.1 sets its engine up again for every call (some 30 ms, and 1 ms more per table).
    """
    backend = client._backend
    backend.held = []
    try:
        yield
        held = backend.release()
        if held:
            with _ENGINE_LOCK:
                backend._call(";\n".join(held), "TabSeparated")
    finally:
        backend.held = None
        for name in backend.held_files:
            with contextlib.suppress(OSError):
                os.unlink(name)
        backend.held_files.clear()


def connect(target: client_module.Target, database: str | None = None, **settings: Any) -> Any:
    """``storage.client.connect`` with embedded storage on chdb 2.1.1; servers as before."""
    if not target.embedded:
        return _server_connect(target, database, **settings)
    assert target.path is not None
    try:
        os.makedirs(target.path, exist_ok=True)
        client = LegacyChdbClient(target.path, settings=settings or None)
    except Exception as exc:
        raise StorageError(f"cannot open ClickHouse at {target.dsn}: {exc}") from exc
    if database:
        client.database = database
    return client


_server_connect = client_module.connect


def install() -> None:
    """Every client the product makes from now on in this process runs on chdb 2.1.1."""
    if not available():
        raise RuntimeError(f"chdb 2.1.x is needed for ClickHouse {ENGINE_VERSION}, found chdb {chdb.__version__}")
    client_module.connect = connect
