"""What the API's routes need from the running collector, and the error they answer with.

The routes see the collector through ``Backend``, a description of the parts they use, so the
API does not import the service that starts it, and a test can hand it any object with these
parts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..analysis.runner import Analyzer
    from ..auth import Authenticator
    from ..config import Config
    from ..metrics import Metrics
    from ..pipeline.deadletter import DeadLetters
    from ..query.catalog import Catalog
    from ..query.sql_sandbox import SqlSandbox
    from ..query.traces import TraceReader
    from ..storage.store import Store


class ApiError(Exception):
    """An answer other than 200: its status, message and, for 429/503, a Retry-After."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Backend(Protocol):
    config: Config
    metrics: Metrics
    store: Store
    catalog: Catalog
    trace_reader: TraceReader
    analyzer: Analyzer
    sql: SqlSandbox
    dead_letters: DeadLetters | None
    auth: Authenticator | None

    def readiness(self) -> tuple[bool, dict[str, Any]]: ...

    def replay_dead_letters(self, ids: list[str] | None = None, cause: str | None = None) -> dict[str, Any]: ...
