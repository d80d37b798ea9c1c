"""OTLP trace requests to column batches for ``otel_traces`` and the ``ml_*`` tables.

Strings are written the way the OpenTelemetry Collector's ClickHouse exporter writes them
(attribute values as strings, ``SpanKind``/``StatusCode`` as ``Server``/``Error``), so
Grafana and other OTel tooling read the same table. ``ml.*`` JSON that does not parse is
left in ``otel_traces`` and skipped, counted, for the ML tables.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SPAN_KINDS = ("Unspecified", "Internal", "Server", "Client", "Producer", "Consumer")
STATUS_CODES = ("Unset", "Ok", "Error")

TRACE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind", "ServiceName",
    "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes", "Duration", "StatusCode",
    "StatusMessage", "Events.Timestamp", "Events.Name", "Events.Attributes", "Links.TraceId", "Links.SpanId",
    "Links.TraceState", "Links.Attributes",
)  # fmt: skip
PREDICTION_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "ServiceName", "ModelName", "ModelVersion", "Framework",
    "Operation", "Duration", "InputRows", "InputColumns", "OutputRows", "StatusCode", "ErrorType", "PredictionId",
    "HostName", "ProfileSampled", "ResourceAttributes",
)  # fmt: skip
FEATURE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ModelName", "ModelVersion", "Operation", "Side",
    "NumFeature", "NumRow", "NumValue", "CatFeature", "CatRow", "CatValue",
)  # fmt: skip
HOTSPOT_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ModelName", "ModelVersion", "Operation",
    "Function", "File", "Line", "Calls", "SelfMs", "CumMs",
)  # fmt: skip
ACTUAL_COLUMNS = ("Timestamp", "PredictionId", "ModelName", "ModelVersion", "NumValue", "CatValue", "TraceId", "SpanId")

TABLES = {
    "otel_traces": TRACE_COLUMNS,
    "ml_predictions": PREDICTION_COLUMNS,
    "ml_features": FEATURE_COLUMNS,
    "ml_hotspots": HOTSPOT_COLUMNS,
    "ml_actuals": ACTUAL_COLUMNS,
}


@dataclass
class Batch:
    """Column-oriented rows for each table, plus what was skipped."""

    columns: dict[str, list[list[Any]]] = field(
        default_factory=lambda: {t: [[] for _ in cols] for t, cols in TABLES.items()}
    )
    spans: int = 0
    bad_ml: int = 0

    def rows(self, table: str) -> int:
        return len(self.columns[table][0])


def any_value_str(v: Any) -> str:
    """An AnyValue as a string, as the Collector's ``AsString`` renders it."""
    kind = v.WhichOneof("value")
    if kind == "string_value":
        return v.string_value  # type: ignore[no-any-return]
    if kind == "bool_value":
        return "true" if v.bool_value else "false"
    if kind == "int_value":
        return str(v.int_value)
    if kind == "double_value":
        return _float_str(v.double_value)
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(_plain(v), separators=(",", ":"))
    return ""


def _float_str(f: float) -> str:
    if math.isfinite(f) and f == int(f) and abs(f) < 1e21:
        return str(int(f))
    return repr(f)


def _plain(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_plain(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _plain(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    if kind == "double_value" and not math.isfinite(v.double_value):
        return str(v.double_value)
    return getattr(v, kind) if kind else None


def attributes(kvs: Iterable[Any]) -> dict[str, str]:
    return {kv.key: any_value_str(kv.value) for kv in kvs}


def _hex(b: bytes) -> str:
    return b.hex() if any(b) else ""


def flatten(requests: Iterable[bytes | ExportTraceServiceRequest], batch: Batch | None = None) -> Batch:
    """Add the spans of encoded ``ExportTraceServiceRequest`` messages to a batch."""
    batch = batch or Batch()
    t = batch.columns["otel_traces"]
    for raw in requests:
        if isinstance(raw, bytes):
            request = ExportTraceServiceRequest()
            request.ParseFromString(raw)
        else:
            request = raw
        for rs in request.resource_spans:
            resource = attributes(rs.resource.attributes)
            service = resource.get("service.name", "")
            for ss in rs.scope_spans:
                scope_name, scope_version = ss.scope.name, ss.scope.version
                for span in ss.spans:
                    start = span.start_time_unix_nano
                    duration = max(0, span.end_time_unix_nano - start)
                    trace_id = _hex(span.trace_id)
                    span_id = _hex(span.span_id)
                    parent = _hex(span.parent_span_id)
                    span_attrs = attributes(span.attributes)
                    kind = SPAN_KINDS[span.kind] if 0 <= span.kind < len(SPAN_KINDS) else "Unspecified"
                    status = span.status
                    code = STATUS_CODES[status.code] if 0 <= status.code < len(STATUS_CODES) else "Unset"
                    t[0].append(start)
                    t[1].append(trace_id)
                    t[2].append(span_id)
                    t[3].append(parent)
                    t[4].append(span.trace_state)
                    t[5].append(span.name)
                    t[6].append(kind)
                    t[7].append(service)
                    t[8].append(resource)
                    t[9].append(scope_name)
                    t[10].append(scope_version)
                    t[11].append(span_attrs)
                    t[12].append(duration)
                    t[13].append(code)
                    t[14].append(status.message)
                    events = span.events
                    t[15].append([e.time_unix_nano for e in events])
                    t[16].append([e.name for e in events])
                    t[17].append([attributes(e.attributes) for e in events])
                    links = span.links
                    t[18].append([_hex(link.trace_id) for link in links])
                    t[19].append([_hex(link.span_id) for link in links])
                    t[20].append([link.trace_state for link in links])
                    t[21].append([attributes(link.attributes) for link in links])
                    batch.spans += 1
                    if "ml.model.name" in span_attrs or "ml.actual" in span_attrs:
                        _ml_rows(batch, span_attrs, resource, service, start, duration, trace_id, span_id, parent, code)
    return batch


def _int(value: str | None) -> int:
    try:
        return max(0, int(value)) if value else 0
    except ValueError:
        return 0


def _ml_rows(
    batch: Batch,
    a: dict[str, str],
    resource: dict[str, str],
    service: str,
    start: int,
    duration: int,
    trace_id: str,
    span_id: str,
    parent: str,
    code: str,
) -> None:
    model = a.get("ml.model.name", "")
    version = a.get("ml.model.version", "")
    operation = a.get("ml.operation.name", "predict")
    if operation == "feedback" or "ml.actual" in a:
        try:
            num, cat = _actual_values(json.loads(a.get("ml.actual", "null")))
        except (ValueError, TypeError):
            batch.bad_ml += 1
            return
        cols = batch.columns["ml_actuals"]
        for col, value in zip(
            cols, (start, a.get("ml.prediction.id", ""), model, version, num, cat, trace_id, span_id)
        ):
            col.append(value)
        return
    p = batch.columns["ml_predictions"]
    row = (
        start, trace_id, span_id, parent, service, model, version, a.get("ml.model.framework", ""), operation,
        duration, _int(a.get("ml.input.rows")), _int(a.get("ml.input.columns")), _int(a.get("ml.output.rows")),
        code, a.get("error.type", ""), a.get("ml.prediction.id", ""), resource.get("host.name", ""),
        a.get("ml.profile.sampled") == "true", resource,
    )  # fmt: skip
    for col, value in zip(p, row):
        col.append(value)
    for side, key in (("input", "ml.input.sample"), ("output", "ml.output.sample")):
        text = a.get(key)
        if text is None:
            continue
        try:
            cells = _sample_cells(json.loads(text))
        except (ValueError, TypeError, AttributeError):
            batch.bad_ml += 1
            continue
        f = batch.columns["ml_features"]
        for col, value in zip(f, (start, trace_id, span_id, model, version, operation, side, *cells)):
            col.append(value)
    hot = a.get("ml.profile.hotspots")
    if hot:
        try:
            entries = [
                (
                    str(h["function"]),
                    str(h["file"]),
                    int(h["line"]),
                    int(h["calls"]),
                    float(h["self_ms"]),
                    float(h["cum_ms"]),
                )
                for h in json.loads(hot)
            ]
        except (ValueError, TypeError, KeyError):
            batch.bad_ml += 1
            return
        hcols = batch.columns["ml_hotspots"]
        for entry in entries:
            for col, value in zip(hcols, (start, trace_id, span_id, model, version, operation, *entry)):
                col.append(value)


def _sample_cells(sample: Any) -> tuple[list[str], list[int], list[float], list[str], list[int], list[str | None]]:
    """Split ``{feature: [values]}`` into numeric and categorical cells (NaN marks a null number)."""
    if not isinstance(sample, dict):
        raise TypeError("sample is not an object")
    nf: list[str] = []
    nr: list[int] = []
    nv: list[float] = []
    cf: list[str] = []
    cr: list[int] = []
    cv: list[str | None] = []
    for name, values in sample.items():
        if not isinstance(values, list):
            raise TypeError(f"sample values of {name!r} are not a list")
        numeric = all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values)
        if numeric:
            for i, v in enumerate(values):
                nf.append(name)
                nr.append(i)
                nv.append(math.nan if v is None else float(v))
        else:
            for i, v in enumerate(values):
                cf.append(name)
                cr.append(i)
                cv.append(None if v is None else str(v))
    return nf, nr, nv, cf, cr, cv


def _actual_values(actual: Any) -> tuple[list[float], list[str | None]]:
    values = actual if isinstance(actual, list) else [actual]
    if all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in values):
        return [math.nan if v is None else float(v) for v in values], []
    return [], [None if v is None else str(v) for v in values]
