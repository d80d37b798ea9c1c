"""What the read side asks of storage: the API's routes, the CLI (through the API) and the UI
call this, never the store. Each question is a ``query/sql/*.sql`` file; answers are rows as
dicts, values as ClickHouse returns them.

Reference uploads are here too: they are the one thing the API writes that the analyses then
read (``ml_references``).
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

from ..storage import schema, sqlfiles
from ..storage.store import StoreView
from .traces import typed_attributes

# the trace view holds at most this many spans of one trace (the browser draws only those in sight)
TREE_SPANS = 50_000
REFERENCE_COLUMNS = (
    "CreatedAt", "ReferenceId", "ModelName", "ModelVersion", "Side", "Feature", "Source", "NumValue", "CatValue",
)  # fmt: skip


class UnknownModel(LookupError):
    """A model asked for by name that has no stored call."""

    def __init__(self, model: str, known: list[str]) -> None:
        super().__init__(f"unknown model {model!r}; known: {', '.join(known) or 'none yet'}")
        self.model = model
        self.known = known


@dataclass(frozen=True)
class CallSearch:
    """A search of model calls: a time range and filters ("" for any)."""

    start_ms: int
    end_ms: int
    model: str = ""
    version: str = ""
    operation: str = ""
    status: str = ""  # "", "ok" or "error"
    min_ms: float = 0.0
    max_ms: float = 0.0  # 0: no upper bound
    attribute: tuple[str, str] = ("", "")
    order: str = "newest"  # or "slowest"
    limit: int = 100

    def parameters(self) -> dict[str, Any]:
        return {
            "start": self.start_ms,
            "end": self.end_ms,
            "model": self.model,
            "version": self.version,
            "operation": self.operation,
            "status": self.status,
            "min_ns": int(self.min_ms * 1e6),
            "max_ns": int(self.max_ms * 1e6),
            "attr_key": self.attribute[0],
            "attr_value": self.attribute[1],
            "limit": self.limit,
        }


class Catalog:
    def __init__(self, store: StoreView) -> None:
        self.store = store

    def _rows(self, name: str, parameters: dict[str, Any], **fragments: str) -> list[dict[str, Any]]:
        sql = sqlfiles.query(__package__, name, self.store.database, **fragments)
        result = self.store.query(sql, parameters)
        return [dict(zip(result.column_names, r)) for r in result.result_rows]

    # -- models and calls ---------------------------------------------------------------

    def models(self, window: int) -> list[dict[str, Any]]:
        """Every model and version called in the last ``window`` seconds, with their calls."""
        return self._rows("models", {"window": window})

    def latency(self, window: int, model: str = "") -> list[dict[str, Any]]:
        return self._checked(model, self._rows("latency", {"window": window, "model": model}))

    def hotspots(
        self, start_ms: int, end_ms: int, model: str = "", limit: int = 10, version: str = ""
    ) -> list[dict[str, Any]]:
        """Top functions by self time per model version in [start, end)."""
        params = {"start": start_ms, "end": end_ms, "model": model, "version": version, "limit": limit}
        return self._checked(model, self._rows("hotspots", params))

    def predictions(self, model: str = "", limit: int = 50) -> list[dict[str, Any]]:
        return self._checked(model, self._rows("predictions", {"model": model, "limit": limit}))

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        """The spans of one trace in start order (at most 10,000)."""
        return self._rows("trace", {"trace_id": trace_id})

    # -- the UI's questions (each also an API route) -----------------------------------------

    def overview(self, start_ms: int, end_ms: int, points: int = 30, model: str = "") -> list[dict[str, Any]]:
        """Every model version with calls in [start, end): calls, errors, p50/p95/p99, a p95
        sparkline of ``points`` buckets, open findings by kind and the latest drift pass."""
        step = max(60, -(-(end_ms - start_ms) // 1000 // points))
        params = {"start": start_ms, "end": end_ms, "model": model, "step": step}
        rows = self._rows("overview", params)
        # quantiles of the calls cProfile did not slow, unless they are too few (as the latency
        # analysis reads them): those versions are asked again over every call
        redo = {
            (r["model"], r["version"]) for r in rows if r["bucket_no"] < 0 and r["unprofiled"] < max(5, r["calls"] / 2)
        }
        if redo:
            again = {"models": sorted({m for m, _ in redo}), "pairs": sorted(redo)}
            every = {
                (r["model"], r["version"], r["bucket_no"]): r["q"]
                for r in self._rows("overview_all", {**params, **again})
            }
            for r in rows:
                r["q"] = every.get((r["model"], r["version"], r["bucket_no"]), r["q"])
        totals = [r for r in rows if r["bucket_no"] < 0]
        spark: dict[tuple[str, str], list[float | None]] = {}
        spark_calls: dict[tuple[str, str], list[int]] = {}
        for r in rows:
            bucket = int(r["bucket_no"])
            if 0 <= bucket < points:
                key = (r["model"], r["version"])
                spark.setdefault(key, [None] * points)[bucket] = r["q"][1] / 1e6 if r["q"] else None
                spark_calls.setdefault(key, [0] * points)[bucket] = int(r["calls"])
        findings: dict[tuple[str, str], dict[str, int]] = {}
        for r in self._rows("open_findings", {"model": model}):
            findings.setdefault((r["model"], r["version"]), {})[r["kind"]] = int(r["n"])
        drift = {(r["model"], r["version"]): r for r in self._rows("drift_status", params)}
        out = []
        for r in totals:
            key = (r["model"], r["version"])
            calls, q = int(r["calls"]), r["q"]
            d = drift.get(key)
            # the rate while the version served in the range (a version deployed ten minutes ago
            # serves at its own rate, not at its calls spread over the hour)
            minutes = max(1.0, (min(int(r["last_ms"]), end_ms) - max(int(r["first_ms"]), start_ms)) / 60000)
            out.append(
                {
                    "model": r["model"],
                    "version": r["version"],
                    "calls": calls,
                    "errors": int(r["errors"]),
                    "first_ms": r["first_ms"],
                    "last_ms": r["last_ms"],
                    "calls_per_min": calls / minutes,
                    "error_rate": int(r["errors"]) / calls if calls else 0.0,
                    "p50_ms": q[0] / 1e6,
                    "p95_ms": q[1] / 1e6,
                    "p99_ms": q[2] / 1e6,
                    "spark_p95_ms": spark.get(key, [None] * points),
                    "spark_calls": spark_calls.get(key, [0] * points),
                    "open_findings": findings.get(key, {}),
                    "drift": {"features": d["features"], "drifted": d["drifted"], "at_ms": d["at_ms"]} if d else None,
                }
            )
        return out

    def series(self, model: str, start_ms: int, end_ms: int, step: int, operation: str = "") -> list[dict[str, Any]]:
        """Calls, errors and p50/p95/p99 (ms) per version and step of ``step`` seconds."""
        params = {"model": model, "start": start_ms, "end": end_ms, "step": step, "operation": operation}
        out = []
        for r in self._rows("series", params):
            q = r.pop("q")
            out.append({**r, "p50_ms": q[0] / 1e6, "p95_ms": q[1] / 1e6, "p99_ms": q[2] / 1e6})
        return self._checked(model, out)

    def deploys(self, model: str) -> list[dict[str, Any]]:
        """Each version of ``model`` with the time it was first seen."""
        return self._rows("deploys", {"model": model})

    def operations(self, model: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        return self._rows("operations", {"model": model, "start": start_ms, "end": end_ms})

    def drift_latest(self, model: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """The latest stored drift result of every feature of ``model`` in [start, end)."""
        return self._rows("drift_latest", {"model": model, "start": start_ms, "end": end_ms})

    def drift_scores(self, model: str, feature: str, side: str, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """One feature's drift score at every analysis pass in [start, end)."""
        params = {"model": model, "feature": feature, "side": side, "start": start_ms, "end": end_ms}
        return self._rows("drift_scores", params)

    def hotspot_diff(
        self, model: str, before: str, after: str, start_ms: int, end_ms: int, limit: int = 20
    ) -> list[dict[str, Any]]:
        """Self time per profiled call of each function in two versions, largest change first."""
        params = {"model": model, "a": before, "b": after, "start": start_ms, "end": end_ms, "limit": limit}
        return self._rows("hotspot_diff", params)

    def find_calls(self, search: CallSearch) -> dict[str, Any]:
        """Model calls matching ``search`` and a histogram of their durations (whatever the
        duration bounds: the histogram shows where the bounds cut)."""
        where = sqlfiles.query(__package__, "calls_where", self.store.database)
        params = search.parameters()
        order = "Duration DESC" if search.order == "slowest" else "Timestamp DESC"
        calls = self._rows("calls_find", params, where=where, order=order)
        per_decade = 10
        bins = self._rows("calls_histogram", {**params, "per_decade": per_decade}, where=where)
        histogram = [
            {"from_ms": 10 ** (b["bin"] / per_decade), "to_ms": 10 ** ((b["bin"] + 1) / per_decade), "calls": b["n"]}
            for b in bins
        ]
        return {"calls": calls, "histogram": histogram, "total": sum(h["calls"] for h in histogram)}

    def trace_tree(self, trace_id: str, limit: int = TREE_SPANS) -> dict[str, Any] | None:
        """The spans of a trace (the first ``limit``) with their events, in start order, and its
        resources (a span's ``resource`` is an index into them); None when it is not stored."""
        bounds = self.store.query(sqlfiles.query(__package__, "trace_bounds", self.store.database), {"ids": [trace_id]})
        if not bounds.result_rows:
            return None
        _, first_s, last_s = bounds.result_rows[0]
        params = {"trace_id": trace_id, "start": int(first_s) * 1000, "end": int(last_s) * 1000 + 1000, "limit": limit}
        spans = self._rows("span_tree", params)
        resources: dict[tuple[Any, ...], int] = {}  # each distinct resource once: spans name theirs by index
        shown: list[dict[str, Any]] = []
        for span in spans:  # attributes with their OTLP types (an int stays an int)
            types = span.pop("types")
            span["attributes"] = _typed(span["attributes"], types, "span")
            raw = span["resource"]
            key = (tuple(raw.items()), tuple(sorted(k for k in types if k.startswith("resource."))))
            index = resources.get(key)
            if index is None:
                index = resources[key] = len(shown)
                shown.append(_typed(raw, types, "resource"))
            span["resource"] = index
            events = span["event_attributes"]
            span["event_attributes"] = [_typed(a, types, f"event.{i}") for i, a in enumerate(events)]
        return {"spans": spans, "resources": shown}

    def main_operation(self, model: str, start_ms: int, end_ms: int) -> str | None:
        """The operation (predict, predict_proba, ...) with the most calls of ``model`` in the range."""
        rows = self._rows("main_operation", {"model": model, "start": start_ms, "end": end_ms})
        return str(rows[0]["Operation"]) if rows else None

    def require_model(self, model: str) -> None:
        """Raise UnknownModel unless ``model`` has a stored call (an empty name asks nothing)."""
        if model and not self._rows("model_known", {"model": model})[0]["known"]:
            raise UnknownModel(model, [r["model"] for r in self._rows("model_names", {})])

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


def _typed(values: dict[str, str], types: dict[str, str], scope: str) -> dict[str, Any]:
    """``typed_attributes`` ready for JSON: bytes as base64 text (as Jaeger shows a binary tag),
    doubles JSON has no number for (NaN, infinities) as text."""
    out = typed_attributes(values, types, scope)
    if not types:  # typed by name only: strings, ints and booleans
        return out
    for k, v in out.items():
        if isinstance(v, bytes):
            out[k] = base64.b64encode(v).decode()
        elif isinstance(v, float) and not math.isfinite(v):
            out[k] = str(v)
    return out
