"""User SQL for ``/api/sql``: parsed by ClickHouse, checked against the policy, run with caps.

A request goes through four steps on one client of the store's ``sql`` lane:

1. ``formatQuerySingleLine`` parses the text, passed as a bound parameter so it is never SQL
   itself, and writes it back as ClickHouse's canonical single line: comments gone, one
   statement only, identifiers and strings quoted and escaped. That line is what is checked and
   run, so the check and the run see the same query. Formatting it again must give it back.
2. ``EXPLAIN AST`` of that line (parse only: it neither resolves tables nor folds constants)
   gives the tree, which ``sql_policy`` walks.
3. The query runs as a stream under the lane's session settings (memory, time and read caps,
   threads, readonly), wrapped so that ClickHouse writes each row as JSON and never hands over more
   than the byte cap plus one row at a time (``sql_answer``); the answer stops at the row or byte
   cap with ``truncated``.
4. ClickHouse errors become answers that name the cap or the refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..storage.errors import RETRY, StorageBusy, StorageError, classify
from . import ast_dump, sql_answer
from .functions import allowlist
from .sql_answer import Answer
from .sql_policy import Policy, Refused

__all__ = ["Answer", "Refused", "SqlLimits", "SqlSandbox"]

_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SAFE_IDENTIFIER_VALUE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_CODE = re.compile(r"Code: (\d+)")
_DRIVER_PLACEHOLDER = re.compile(r"\{(\w+):([^}]+)\}")  # clickhouse_connect.driver.binding.external_bind_re
_WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class SqlLimits:
    max_rows: int = 10_000
    max_response_bytes: int = 32 << 20
    max_seconds: float = 10.0
    max_memory_bytes: int = 512 << 20
    max_rows_to_read: int = 1_000_000_000
    max_bytes_to_read: int = 100 << 30
    max_threads: int = 2
    max_query_bytes: int = 100_000

    @classmethod
    def from_config(cls, api: Any) -> SqlLimits:
        return cls(
            max_rows=api.sql_max_rows,
            max_response_bytes=api.sql_max_response_bytes,
            max_seconds=api.sql_max_seconds,
            max_memory_bytes=int(api.sql_max_memory_mb * (1 << 20)),
            max_rows_to_read=api.sql_max_rows_to_read,
            max_bytes_to_read=api.sql_max_bytes_to_read,
            max_threads=api.sql_max_threads,
        )

    def session_settings(self) -> dict[str, Any]:
        """Settings of every client of the ``sql`` lane: they hold for the whole query, unions and
        subqueries included, and the query cannot change them (readonly, no SETTINGS clause). The
        row and byte caps are the wrapper's (``sql_answer``), exact on every engine: ClickHouse's
        max_result_rows and max_result_bytes act between whole blocks only."""
        return {
            "max_memory_usage": self.max_memory_bytes,
            "max_execution_time": self.max_seconds,
            "timeout_overflow_mode": "throw",
            "max_rows_to_read": self.max_rows_to_read,
            "max_bytes_to_read": self.max_bytes_to_read,
            "read_overflow_mode": "throw",
            "max_threads": self.max_threads,
            # Generated rows come in blocks of this many, and ClickHouse checks the time cap
            # between blocks: it bounds what one step of a query does past the cap.
            "max_block_size": 8192,
            # The query's threads yield the CPU to storage (nice 19): a heavy query slows other
            # queries, not the writer.
            "os_thread_priority": 19,
            **sql_answer.JSON_SETTINGS,
            "readonly": 1,
        }


@dataclass
class SqlSandbox:
    database: str
    limits: SqlLimits

    def __post_init__(self) -> None:
        self.policy = Policy(self.database, allowlist())

    def answer(self, store: Any, query: Any, parameters: Any) -> Answer:
        """The JSON answer to one request, or ``Refused`` (also for caps, busy lanes and errors)."""
        if not isinstance(query, str) or not query.strip():
            raise Refused(400, "query is required")
        if len(query.encode()) > self.limits.max_query_bytes:
            raise Refused(400, f"the query is longer than {self.limits.max_query_bytes} bytes")
        if not isinstance(parameters, dict):
            raise Refused(400, "parameters must be an object")
        for name in parameters:
            if not isinstance(name, str) or not _PARAM_NAME.fullmatch(name):
                raise Refused(400, f"parameter name {name!r} is not an identifier")
        try:
            # A refusal leaves the client as it was; a failed run closes it (see Store.session).
            with store.session("sql", timeout=_WAIT_SECONDS) as client:
                try:
                    sql, bound = self.prepare(client, query, parameters)
                except Refused as exc:
                    refusal = exc
                else:
                    return self.run(client, sql, bound)
            raise refusal
        except StorageBusy as exc:
            raise Refused(429, str(exc)) from exc
        except StorageError as exc:
            raise Refused(503, f"storage is not available: {exc}") from exc

    # -- 1 and 2: parse, format, check ----------------------------------------------------

    def prepare(self, client: Any, query: str, parameters: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The canonical text of ``query`` and the parameters it uses, once the policy allows it."""
        sql = self._canonical(client, query)
        unquoted = _check_text(sql)
        used = {m.group(1): m.group(2).strip() for m in _placeholders(unquoted)}
        missing = sorted(set(used) - set(parameters))
        if missing:
            raise Refused(400, f"no value for query parameter(s) {', '.join(missing)}")
        for name, kind in used.items():
            if kind == "Identifier" and not _SAFE_IDENTIFIER_VALUE.fullmatch(str(parameters[name])):
                raise Refused(400, f"parameter {name} is an Identifier and {parameters[name]!r} is not a plain name")
        first = sql.split(" ", 1)[0].upper()
        if first not in ("SELECT", "WITH") and not sql.startswith("("):
            raise Refused(403, f"only SELECT queries are allowed, not {first}")
        # Only the parameters the query names, and only by {name:Type}: the driver then sends
        # them as server-side parameters and never substitutes text into the query (it formats
        # %(name)s itself when its own pattern, copied here, finds no {name:Type}).
        bound = {name: parameters[name] for name in used}
        if not set(bound) <= {m.group(1) for m in _DRIVER_PLACEHOLDER.finditer(sql)}:
            raise Refused(400, "write query parameters as {name:Type}")
        try:
            result = client.query(f"EXPLAIN AST {sql}", parameters=bound or None)
        except Exception as exc:
            # The driver appends its own FORMAT, and SETTINGS at the end also apply to the EXPLAIN
            # (where readonly refuses them): name the clause rather than the error it caused.
            if re.search(r"\bFORMAT [A-Za-z]+$", unquoted):
                raise Refused(403, "FORMAT is not allowed: the API answers in JSON") from exc
            if re.search(r"\bSETTINGS [A-Za-z_]+ = ", unquoted):
                raise Refused(403, "SETTINGS is not allowed: the API sets the limits of every query") from exc
            raise _query_error(exc, self.limits) from exc
        dump = "\n".join(str(r[0]) for r in result.result_rows)
        try:
            root = ast_dump.parse(dump)
        except ast_dump.DumpError as exc:
            raise Refused(400, f"the query's parse tree is not one the sandbox can check ({exc})") from exc
        self.policy.check(root)
        self.policy.check_text(root, unquoted)
        return sql, bound

    def _canonical(self, client: Any, query: str) -> str:
        try:
            once, twice = client.query(
                "SELECT formatQuerySingleLine({q:String}) AS once, formatQuerySingleLine(once)",
                parameters={"q": query},
            ).result_rows[0]
        except Exception as exc:
            message = _message(exc)
            if "Multi-statements are not allowed" in message:
                raise Refused(400, "only one SELECT statement per request") from exc
            raise _query_error(exc, self.limits) from exc
        if once != twice:
            raise Refused(400, "the query does not read back the same after formatting; rewrite it more plainly")
        return str(once)

    # -- 3: run ----------------------------------------------------------------------------

    def run(self, client: Any, sql: str, parameters: dict[str, Any]) -> Answer:
        try:
            return sql_answer.read(client, sql, parameters, self.limits.max_rows, self.limits.max_response_bytes)
        except Refused:
            raise
        except Exception as exc:
            raise _query_error(exc, self.limits) from exc


def _check_text(sql: str) -> str:
    """The text of ``sql`` outside quotes; refuses what would print a line break into the AST dump
    (identifiers with escapes or control characters) or text the formatter never writes."""
    outside: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch in "'`\"":
            j = i + 1
            while j < n and sql[j] != ch:
                j += 2 if sql[j] == "\\" else 1
            if j >= n:
                raise Refused(400, "unterminated quote in the formatted query")
            body = sql[i + 1 : j]
            if ch != "'" and ("\\" in body or any(ord(c) < 32 for c in body)):
                raise Refused(400, "quoted identifiers with escapes or control characters are not allowed")
            outside.append(" " if ch == "'" else "x")
            i = j + 1
            continue
        if ord(ch) < 32:
            raise Refused(400, "control characters outside strings are not allowed")
        outside.append(ch)
        i += 1
    return "".join(outside)


def _placeholders(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+)\}", text))


def _message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    # The driver repeats "Code: N. DB::Exception:" and appends the version; keep ClickHouse's words.
    text = re.sub(r"^(?:.*?DB::Exception: )+", "", text)
    return re.sub(r"\s*\(version [^)]*\)", "", text)[:500]


def _query_error(exc: BaseException, limits: SqlLimits) -> Refused:
    """A ClickHouse failure as an answer: caps are 422 naming the setting to raise, refusals 403,
    the rest 400 with ClickHouse's message."""
    m = _CODE.search(str(exc))
    code = int(m.group(1)) if m else getattr(exc, "code", None)
    message = _message(exc)
    if code == 241 and "(total)" in message:
        return Refused(503, f"the collector's ClickHouse is at its memory limit; try again later: {message}")
    if code == 241:
        return Refused(
            422,
            f"the query needs more memory than its cap of {limits.max_memory_bytes >> 20} MiB "
            f"(api.sql_max_memory_mb): {message}",
        )
    if code in (159, 160):
        return Refused(422, f"the query ran longer than its cap of {limits.max_seconds:g} s (api.sql_max_seconds)")
    if code in (158, 307, 396):
        return Refused(
            422,
            f"the query reads more than its cap of {limits.max_rows_to_read} rows or {limits.max_bytes_to_read} "
            f"bytes (api.sql_max_rows_to_read, api.sql_max_bytes_to_read): {message}",
        )
    if code in (164, 497):
        return Refused(403, f"not allowed: {message}")
    if code is None and classify(exc).kind == RETRY:  # the server is unreachable, not the query wrong
        return Refused(503, f"storage is not available: {message}")
    return Refused(400, f"query failed: {message}")
