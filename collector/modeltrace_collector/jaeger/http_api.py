"""Jaeger's v1 HTTP query API (the JSON the Jaeger UI and Grafana's Jaeger data source read),
served under ``/jaeger`` on the collector's API port: point a Grafana Jaeger data source at
``http://collector:8080/jaeger``.

Routes: ``/api/services``, ``/api/services/{service}/operations``, ``/api/operations``,
``/api/traces`` (search), ``/api/traces/{id}``, ``/api/dependencies``. Responses use Jaeger's
envelope ``{"data", "total", "limit", "offset", "errors"}`` and its trace model: hex ids,
microsecond times, typed tags, ``references`` and ``processes``. A span's kind, status and
scope become the tags Jaeger's own OTLP translation gives them (``span.kind``, ``error``,
``otel.status_code``, ``otel.status_description``, ``otel.scope.name``).

Parameters are checked before any query: times (microseconds; ``endTs`` in milliseconds) lie
between 2000-01-01 and 2200-01-01 UTC or are 0 (not given), durations are Go durations up to
Go's limit (about 292 years), lookbacks up to 400 days; anything else answers 400.
"""

from __future__ import annotations

import base64
import math
import re
import time
from typing import Any
from urllib.parse import parse_qs, unquote

from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status, TracesData

from ..api.params import MAX_TIME_MS, MAX_WINDOW_SECONDS, MIN_TIME_MS, TIME_RANGE, BadParameter
from ..jsonbody import BadJson, load_json
from ..query.traces import WARNINGS_ATTRIBUTE, TraceQuery, TraceReader, traces_data
from ..storage.schema import any_value_str

PREFIX = "/jaeger"
_TRACE_ID = re.compile(r"[0-9a-fA-F]{1,32}")
_GO_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_INTEGER = re.compile(r"[0-9]{1,30}")
MAX_DURATION_NS = 2**63 - 1  # Go's time.Duration
MAX_LOOKBACK_NS = MAX_WINDOW_SECONDS * 10**9
MAX_TRACE_IDS = 1000
_UNIT_NS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
            "h": 3600 * 10**9}  # fmt: skip
DEFAULT_LOOKBACK_NS = 48 * 3600 * 10**9
_KIND_NAMES = ("", "internal", "server", "client", "producer", "consumer")


class JaegerError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def go_duration(text: str, name: str = "duration", limit: int = MAX_DURATION_NS) -> int:
    """A Go duration string ("100ms", "1.5s", "1h30m") in nanoseconds, at most ``limit``."""
    text = text.strip()
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or len(text) > 100:
        raise JaegerError(
            400, f"{name}: cannot parse duration {text[:60]!r}: expected a Go duration like 100ms, 1.5s or 2m"
        )
    if not total <= limit:
        raise JaegerError(400, f"{name}: duration {text[:60]!r} is longer than {limit // 10**9} s")
    return int(total)


def envelope(data: Any, status: int = 200, errors: list[dict[str, Any]] | None = None) -> tuple[int, Any]:
    total = len(data) if isinstance(data, list) else 0
    return status, {"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors}


def error(status: int, message: str) -> tuple[int, Any]:
    return envelope(None, status, [{"code": status, "msg": message}])


def route(reader: TraceReader, path: str, query: str) -> tuple[int, Any]:
    """Answer one Jaeger API request; ``path`` without the ``/jaeger`` prefix."""
    try:
        params = parse_qs(query, keep_blank_values=True, max_num_fields=100)
    except ValueError:
        return error(400, "more than 100 query parameters")
    try:
        return _route(reader, path, params)
    except JaegerError as exc:
        return error(exc.status, str(exc))
    except (BadParameter, BadJson) as exc:
        return error(400, str(exc))


def _one(params: dict[str, list[str]], name: str, default: str = "") -> str:
    values = params.get(name)
    return values[-1] if values else default


def _int(params: dict[str, list[str]], name: str, default: int, high: int) -> int:
    """A whole number from 0 to ``high`` in ASCII digits."""
    text = _one(params, name).strip()
    if not text:
        return default
    value = int(text) if _INTEGER.fullmatch(text) else -1
    if not 0 <= value <= high:
        raise JaegerError(400, f"{name} must be a whole number from 0 to {high}, got {text[:60]!r}")
    return value


def _time(params: dict[str, list[str]], name: str, default: int, per_ms: int = 1000) -> int:
    """A time in ``1 / per_ms`` ms units (microseconds by default); 0 means not given."""
    value = _int(params, name, default, MAX_TIME_MS * per_ms)
    if value and not MIN_TIME_MS * per_ms <= value < MAX_TIME_MS * per_ms:
        unit = "microseconds" if per_ms == 1000 else "milliseconds"
        raise JaegerError(400, f"{name} must be epoch {unit} between {TIME_RANGE} (or 0), got {value}")
    return value


def _route(reader: TraceReader, path: str, params: dict[str, list[str]]) -> tuple[int, Any]:
    if path == "/api/services":
        return envelope(reader.services())
    if path.startswith("/api/services/") and path.endswith("/operations"):
        service = unquote(path[len("/api/services/") : -len("/operations")])
        return envelope(sorted({name for name, _ in reader.operations(service)}))
    if path == "/api/operations":
        service = _one(params, "service")
        if not service:
            raise JaegerError(400, "parameter 'service' is required")
        ops = reader.operations(service, _one(params, "spanKind"))
        return envelope([{"name": n, "spanKind": k} for n, k in ops])
    if path == "/api/traces":
        return _search(reader, params)
    if path.startswith("/api/traces/"):
        trace_id = _trace_id(path[len("/api/traces/") :])
        start, end = _time(params, "start", 0) * 1000, _time(params, "end", 0) * 1000
        rows, totals = reader.spans([trace_id], start, end)
        if trace_id not in rows:
            return error(404, "trace not found")
        return envelope([jaeger_trace(traces_data(rows[trace_id], totals.get(trace_id)))])
    if path == "/api/dependencies":
        end_ms = _time(params, "endTs", int(time.time() * 1000), per_ms=1) or int(time.time() * 1000)
        lookback_ms = _int(params, "lookback", 24 * 3600 * 1000, MAX_WINDOW_SECONDS * 1000)
        if lookback_ms <= 0:
            raise JaegerError(400, "lookback must be a positive number of milliseconds")
        deps = reader.dependencies((end_ms - lookback_ms) * 1_000_000, end_ms * 1_000_000)
        return envelope([{"parent": p, "child": c, "callCount": n} for p, c, n in deps])
    raise JaegerError(404, f"no route {PREFIX}{path}")


def _trace_id(raw: str, parameter: str = "") -> str:
    """A trace id as stored: lowercase, 32 hex digits (shorter ones zero-padded, as Jaeger does)."""
    if not _TRACE_ID.fullmatch(raw):
        message = f"malformed trace id {raw[:60]!r} (1 to 32 hex digits)"
        raise JaegerError(400, f"{parameter}: {message}" if parameter else message)
    return raw.lower().rjust(32, "0")


def _search(reader: TraceReader, params: dict[str, list[str]]) -> tuple[int, Any]:
    ids = [i for v in params.get("traceID", []) for i in v.split(",") if i]
    if len(ids) > MAX_TRACE_IDS:
        raise JaegerError(400, f"traceID: at most {MAX_TRACE_IDS} trace ids per search")
    if ids:  # a search by ids fetches those traces
        wanted = [_trace_id(i, "traceID") for i in ids]
        rows, totals = reader.spans(wanted)
        return envelope([jaeger_trace(traces_data(rows[t], totals.get(t))) for t in wanted if t in rows])
    service = _one(params, "service")
    if not service:
        raise JaegerError(400, "parameter 'service' is required")
    tags: dict[str, str] = {}
    for text in params.get("tags", []):
        parsed = load_json(text, "tags", max_depth=1)
        if not isinstance(parsed, dict):
            raise JaegerError(400, "tags must be a JSON object of tag name to value")
        tags.update({str(k): _tag_text(v) for k, v in parsed.items()})
    for text in params.get("tag", []):
        key, sep, value = text.partition(":")
        if not sep:
            raise JaegerError(400, f"malformed tag {text!r}: expected key:value")
        tags[key] = value
    end_us = _time(params, "end", int(time.time() * 1e6))
    lookback = _one(params, "lookback")
    lookback_ns = DEFAULT_LOOKBACK_NS
    if lookback and lookback != "custom":
        lookback_ns = go_duration(lookback, "lookback", MAX_LOOKBACK_NS)
        if lookback_ns <= 0:
            raise JaegerError(400, "lookback must be a positive Go duration like 30m or 48h")
    start_us = _time(params, "start", max(0, (end_us or int(time.time() * 1e6)) - lookback_ns // 1000))
    operation = _one(params, "operation")
    query = TraceQuery(
        service=service,
        operation="" if operation == "all" else operation,
        attributes=tags,
        start_min_ns=start_us * 1000,
        start_max_ns=end_us * 1000,
        duration_min_ns=go_duration(_one(params, "minDuration"), "minDuration"),
        duration_max_ns=go_duration(_one(params, "maxDuration"), "maxDuration"),
        limit=_int(params, "limit", 20, 1_000_000),
    )
    return envelope([jaeger_trace(traces_data(rows, total)) for _, rows, total in reader.find_traces(query)])


def _tag_text(v: Any) -> str:
    """A JSON tag value as stored (1.0 as "1", as the exporter writes a double)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return any_value_str(AnyValue(double_value=v))
    return str(v)


def _tag(key: str, v: AnyValue) -> dict[str, Any]:
    kind = v.WhichOneof("value")
    if kind == "bool_value":
        return {"key": key, "type": "bool", "value": v.bool_value}
    if kind == "int_value":
        return {"key": key, "type": "int64", "value": v.int_value}
    if kind == "double_value":
        if not math.isfinite(v.double_value):  # JSON has no NaN or infinity
            return {"key": key, "type": "string", "value": any_value_str(v)}
        return {"key": key, "type": "float64", "value": v.double_value}
    if kind == "bytes_value":
        return {"key": key, "type": "binary", "value": base64.b64encode(v.bytes_value).decode()}
    if kind in ("array_value", "kvlist_value"):
        return {"key": key, "type": "string", "value": any_value_str(v)}
    return {"key": key, "type": "string", "value": v.string_value}


def jaeger_trace(data: TracesData) -> dict[str, Any]:
    """One trace's OTLP data in Jaeger's JSON model."""
    spans: list[dict[str, Any]] = []
    processes: dict[str, dict[str, Any]] = {}
    trace_warnings: list[str] = []
    trace_id = ""
    for n, rs in enumerate(data.resource_spans, start=1):
        pid = f"p{n}"
        resource = {kv.key: kv.value for kv in rs.resource.attributes}
        service = resource.get("service.name")
        processes[pid] = {
            "serviceName": service.string_value if service is not None else "",
            "tags": [_tag(k, v) for k, v in resource.items() if k != "service.name"],
        }
        for ss in rs.scope_spans:
            for span in ss.spans:
                trace_id = span.trace_id.hex()
                spans.append(_span(span, pid, ss.scope.name, ss.scope.version, trace_warnings))
    spans.sort(key=lambda s: s["startTime"])
    return {"traceID": trace_id, "spans": spans, "processes": processes, "warnings": trace_warnings or None}


def _span(span: Span, pid: str, scope: str, scope_version: str, trace_warnings: list[str]) -> dict[str, Any]:
    trace_id = span.trace_id.hex()
    tags = []
    warnings: list[str] = []
    for kv in span.attributes:
        if kv.key == WARNINGS_ATTRIBUTE:
            warnings += [v.string_value for v in kv.value.array_value.values]
            continue
        tags.append(_tag(kv.key, kv.value))
    kind = _KIND_NAMES[span.kind] if 0 <= span.kind < len(_KIND_NAMES) else ""
    if kind:
        tags.append({"key": "span.kind", "type": "string", "value": kind})
    if scope:
        tags.append({"key": "otel.scope.name", "type": "string", "value": scope})
    if scope_version:
        tags.append({"key": "otel.scope.version", "type": "string", "value": scope_version})
    if span.status.code == Status.STATUS_CODE_ERROR:
        tags.append({"key": "error", "type": "bool", "value": True})
        tags.append({"key": "otel.status_code", "type": "string", "value": "ERROR"})
    elif span.status.code == Status.STATUS_CODE_OK:
        tags.append({"key": "otel.status_code", "type": "string", "value": "OK"})
    if span.status.message:
        tags.append({"key": "otel.status_description", "type": "string", "value": span.status.message})
    references = []
    if span.parent_span_id:
        references.append({"refType": "CHILD_OF", "traceID": trace_id, "spanID": span.parent_span_id.hex()})
    for link in span.links:
        references.append({"refType": "FOLLOWS_FROM", "traceID": link.trace_id.hex(), "spanID": link.span_id.hex()})
    logs = [
        {
            "timestamp": e.time_unix_nano // 1000,
            "fields": [{"key": "event", "type": "string", "value": e.name}]
            + [_tag(kv.key, kv.value) for kv in e.attributes],
        }
        for e in span.events
    ]
    trace_warnings += warnings
    return {
        "traceID": trace_id,
        "spanID": span.span_id.hex(),
        "flags": 1,
        "operationName": span.name,
        "references": references,
        "startTime": span.start_time_unix_nano // 1000,
        "duration": (span.end_time_unix_nano - span.start_time_unix_nano) // 1000,
        "tags": tags,
        "logs": logs,
        "processID": pid,
        "warnings": warnings or None,
    }
