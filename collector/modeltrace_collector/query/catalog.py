"""What the read side asks of storage: the API's routes, the CLI (through the API) and the UI
call this, never the store. Each question is a ``query/sql/*.sql`` file; answers are rows as
dicts, values as ClickHouse returns them.

Reference uploads are here too: they are the one thing the API writes that the analyses then
read (``ml_references``).
"""

from __future__ import annotations

from typing import Any

from ..storage import schema, sqlfiles
from ..storage.store import StoreView

# how far back "is this model known?" looks
KNOWN_MODELS_SECONDS = 400 * 86400
REFERENCE_COLUMNS = (
    "CreatedAt", "ReferenceId", "ModelName", "ModelVersion", "Side", "Feature", "Source", "NumValue", "CatValue",
)  # fmt: skip


class UnknownModel(LookupError):
    """A model asked for by name that has no stored call."""

    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(f"unknown model {model!r}; known: {', '.join(known) or 'none yet'}")
        self.model = model
        self.known = known


class Catalog:
    def __init__(self, store: StoreView) -> None:
        self.store = store

    def _rows(self, name: str, parameters: dict[str, Any]) -> list[dict[str, Any]]:
        sql = sqlfiles.query(__package__, name, self.store.database)
        result = self.store.query(sql, parameters)
        return [dict(zip(result.column_names, r)) for r in result.result_rows]

    # -- models and calls ---------------------------------------------------------------

    def models(self, window: int) -> list[dict[str, Any]]:
        """Every model and version called in the last ``window`` seconds, with their calls."""
        return self._rows("models", {"window": window})

    def latency(self, window: int, model: str = "") -> list[dict[str, Any]]:
        return self._checked(model, self._rows("latency", {"window": window, "model": model}))

    def hotspots(self, window: int, model: str = "", limit: int = 10) -> list[dict[str, Any]]:
        return self._checked(model, self._rows("hotspots", {"window": window, "model": model, "limit": limit}))

    def predictions(self, model: str = "", limit: int = 50) -> list[dict[str, Any]]:
        return self._checked(model, self._rows("predictions", {"model": model, "limit": limit}))

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans of one trace in start order (at most 10,000)."""
        return self._rows("trace", {"trace_id": trace_id})

    def main_operation(self, model: str, start_ms: int, end_ms: int) -> str | None:
        """The operation (predict, predict_proba, ...) with the most calls of ``model`` in the range."""
        rows = self._rows("main_operation", {"model": model, "start": start_ms, "end": end_ms})
        return str(rows[0]["Operation"]) if rows else None

    def require_model(self, model: str) -> None:
        """Raise UnknownModel unless ``model`` has a stored call (an empty name asks nothing)."""
        if model:
            known = sorted({r["model"] for r in self.models(KNOWN_MODELS_SECONDS)})
            if model not in known:
                raise UnknownModel(model, known)

    def _checked(self, model: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``found``; when it is empty for a named model, UnknownModel if the model is unknown."""
        if model and not found:
            self.require_model(model)
        return found

    # -- references -----------------------------------------------------------------------

    def references(self, model: str = "") -> list[dict[str, Any]]:
        """The newest 100 references (of ``model``), each with its features and size."""
        return self._rows("references", {"model": model})

    def reference_version(self, reference_id: str, model: str) -> str | None:
        """The version of a stored reference of ``model``; None when there is none."""
        rows = self._rows("reference_version", {"id": reference_id, "model": model})
        return str(rows[0]["ModelVersion"]) if rows else None

    def add_reference_rows(self, columns: list[list[Any]], token: str) -> None:
        """Insert rows of ``ml_references`` (``REFERENCE_COLUMNS``) under a deduplication token."""
        self.store.insert(schema.REFERENCES, columns, REFERENCE_COLUMNS, token=token)
