"""The collector API described with OpenAPI 3.1, served at ``GET /openapi.json``.

The document is written here by hand next to the routes it describes; the tests check it
against the OpenAPI schema, check that every route the server answers is in it (and nothing
more), and validate real answers against its response schemas.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from modeltrace.version import __version__

JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(
    name: str, description: str, schema: dict[str, Any] | None = None, *, where: str = "query", required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required or where == "path",
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _ok(schema: dict[str, Any], description: str = "OK", status: str = "200") -> dict[str, Any]:
    return {
        status: {"description": description, "content": {JSON: {"schema": schema}}},
        "default": {"description": "An error", "content": {JSON: {"schema": _ref("Error")}}},
    }


def _object(required: dict[str, Any], optional: dict[str, Any] | None = None, extra: bool = False) -> dict[str, Any]:
    return {
        "type": "object",
        "required": list(required),
        "properties": {**required, **(optional or {})},
        "additionalProperties": extra,
    }


def _list_of(key: str, item: dict[str, Any], **more: Any) -> dict[str, Any]:
    return _object({key: {"type": "array", "items": item}, **more})


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
INTEGER = {"type": "integer"}
NUMBER = {"type": "number"}
NULLABLE_NUMBER = {"type": ["number", "null"]}
TIME = {"type": "string", "description": "ISO 8601, UTC"}
ANY_OBJECT = {"type": "object"}

MODEL = _param("model", "A model name (ml.model.name); an unknown one answers 404 naming the known ones.")
WINDOW = _param(
    "window",
    'How far back: seconds, or a number with s, m, h or d ("15m", "7d"), at most 400 days.',
)
LIMIT = _param("limit", "At most this many rows.", {"type": "integer", "minimum": 1})
AT = _param("at", "The end of the range: epoch seconds or milliseconds, or ISO 8601. Default: now.")
START = _param(
    "start", "The start of the range (epoch seconds or milliseconds, or ISO 8601); with it, window is ignored."
)
END = _param("end", "The end of the range (as start). Default: now.")
RANGE = (WINDOW, START, END)
VERSION = _param("version", "A model version (ml.model.version).")
FEATURE = _param("feature", "A feature name.", required=True)
SIDE = _param("side", "input (default) or output", {"enum": ["", "input", "output"]})
MS = {"type": "integer", "description": "epoch milliseconds"}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
NUMBERS = {"type": "array", "items": NUMBER}
COUNTS = {"type": "array", "items": INTEGER}

SCHEMAS: dict[str, Any] = {
    "Error": _object({"error": STRING}),
    "Health": _object({"status": {"const": "ok"}}),
    "Readiness": _object(
        {
            "storage": {"enum": ["ok", "unreachable"]},
            "writer": {"type": ["string", "null"]},
            "spool_bytes": INTEGER,
            "spool_records": INTEGER,
            "dead_letters": INTEGER,
        },
        {"reasons": {"type": "array", "items": STRING}},
    ),
    "ModelVersion": _object(
        {"model": STRING, "version": STRING, "calls": INTEGER, "first_seen": TIME, "last_seen": TIME}
    ),
    "Latency": _object(
        {
            "model": STRING,
            "version": STRING,
            "operation": STRING,
            "calls": INTEGER,
            "errors": INTEGER,
            "p50_ms": NULLABLE_NUMBER,
            "p95_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
            "max_ms": NULLABLE_NUMBER,
        }
    ),
    "Hotspot": _object(
        {
            "model": STRING,
            "version": STRING,
            "function": STRING,
            "file": STRING,
            "line": INTEGER,
            "profiled_calls": INTEGER,
            "calls": INTEGER,
            "self_ms_total": NUMBER,
            "self_ms_avg": NUMBER,
            "cum_ms_avg": NUMBER,
        }
    ),
    "Prediction": _object(
        {
            "time": TIME,
            "model": STRING,
            "version": STRING,
            "operation": STRING,
            "duration_ms": NUMBER,
            "rows": INTEGER,
            "status": STRING,
            "error_type": STRING,
            "prediction_id": STRING,
            "trace_id": STRING,
            "host": STRING,
        }
    ),
    "Span": _object(
        {
            "start": TIME,
            "trace_id": STRING,
            "span_id": STRING,
            "parent_span_id": STRING,
            "name": STRING,
            "kind": STRING,
            "service": STRING,
            "duration_ms": NUMBER,
            "status": STRING,
            "status_message": STRING,
            "attributes": {"type": "object", "additionalProperties": STRING},
            "resource": {"type": "object", "additionalProperties": STRING},
        }
    ),
    "Finding": _object(
        {
            "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
            "kind": {
                "enum": [
                    "latency",
                    "latency_drop",
                    "error_rate",
                    "traffic_drop",
                    "drift",
                    "dataset_drift",
                    "data_quality",
                    "performance",
                ]
            },
            "model": STRING,
            "version": STRING,
            "operation": STRING,
            "subject": STRING,
            "score": NUMBER,
            "threshold": NUMBER,
            "severity": STRING,
            "window_start": TIME,
            "window_end": TIME,
            "opened_at": TIME,
            "resolved_at": {"type": ["string", "null"]},
            "status": {"enum": ["open", "resolved"]},
            "evidence": {"description": "What the analysis saw, by kind of finding."},
        }
    ),
    "Reference": _object(
        {
            "reference_id": STRING,
            "model": STRING,
            "version": STRING,
            "source": STRING,
            "created": TIME,
            "features": {"type": "array", "items": STRING, "description": "side.feature"},
            "rows": INTEGER,
        }
    ),
    "ReferenceUpload": _object(
        {"model": STRING, "features": {"type": "object", "additionalProperties": {"type": "array"}}},
        {
            "version": STRING,
            "source": STRING,
            "outputs": {"type": "object", "additionalProperties": {"type": "array"}},
            "reference_id": {"type": "string", "description": "Add these features to an earlier upload."},
        },
    ),
    "ReferenceStored": _object(
        {"reference_id": STRING, "model": STRING, "version": STRING, "features": INTEGER, "values": INTEGER}
    ),
    "SqlRequest": _object({"query": STRING}, {"parameters": {"type": "object"}}),
    "SqlAnswer": _object(
        {
            "columns": {"type": "array", "items": STRING},
            "rows": {"type": "array", "items": {"type": "array"}},
            "row_count": INTEGER,
            "truncated": {"type": "boolean"},
        },
        {"message": STRING},
    ),
    "ModelOverview": _object(
        {
            "model": STRING,
            "version": STRING,
            "calls": INTEGER,
            "errors": INTEGER,
            "calls_per_min": NUMBER,
            "error_rate": NUMBER,
            "p50_ms": NULLABLE_NUMBER,
            "p95_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
            "first_ms": MS,
            "last_ms": MS,
            "spark_p95_ms": {"type": "array", "items": NULLABLE_NUMBER},
            "spark_calls": COUNTS,
            "open_findings": {"type": "object", "additionalProperties": INTEGER, "description": "by kind"},
            "drift": {
                "oneOf": [
                    {"type": "null"},
                    _object({"features": INTEGER, "drifted": INTEGER, "at_ms": MS}),
                ],
                "description": "the latest drift pass in the range",
            },
        }
    ),
    "SeriesPoint": _object(
        {
            "version": STRING,
            "t": MS,
            "calls": INTEGER,
            "errors": INTEGER,
            "p50_ms": NULLABLE_NUMBER,
            "p95_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
        }
    ),
    "Deploy": _object({"version": STRING, "first_seen_ms": MS}),
    "OperationCalls": _object({"operation": STRING, "calls": INTEGER}),
    "DriftFeature": _object(
        {
            "version": STRING,
            "side": STRING,
            "feature": STRING,
            "at_ms": MS,
            "type": STRING,
            "test": STRING,
            "score": NULLABLE_NUMBER,
            "threshold": NULLABLE_NUMBER,
            "drifted": {"type": "boolean"},
            "p_value": NULLABLE_NUMBER,
            "psi": NULLABLE_NUMBER,
            "js": NULLABLE_NUMBER,
            "null_rate": NULLABLE_NUMBER,
            "out_of_range_rate": NULLABLE_NUMBER,
            "n_reference": INTEGER,
            "n_current": INTEGER,
        }
    ),
    "DriftScore": _object(
        {
            "version": STRING,
            "t": MS,
            "test": STRING,
            "score": NULLABLE_NUMBER,
            "threshold": NULLABLE_NUMBER,
            "drifted": {"type": "boolean"},
            "psi": NULLABLE_NUMBER,
        }
    ),
    "Distribution": _object(
        {
            "model": STRING,
            "version": STRING,
            "feature": STRING,
            "side": STRING,
            "window": _object({"start_ms": MS, "end_ms": MS}),
            "reference": ANY_OBJECT,
            "type": {"enum": ["numeric", "categorical"]},
            "reference_counts": COUNTS,
            "current_counts": COUNTS,
        },
        {
            "edges": {**NUMBERS, "description": "numeric: the bins' edges (one more than the counts)"},
            "reference_nulls": INTEGER,
            "current_nulls": INTEGER,
            "categories": {"type": "array", "items": STRING, "description": "categorical: the bars' labels"},
        },
    ),
    "HotspotChange": _object(
        {
            "function": STRING,
            "file": STRING,
            "line": INTEGER,
            "profiled_a": INTEGER,
            "profiled_b": INTEGER,
            "self_ms_a": NUMBER,
            "self_ms_b": NUMBER,
            "delta_ms": NUMBER,
        }
    ),
    "Call": _object(
        {
            "trace_id": STRING,
            "span_id": STRING,
            "start_ms": MS,
            "model": STRING,
            "version": STRING,
            "operation": STRING,
            "duration_ms": NUMBER,
            "status": STRING,
            "error_type": STRING,
            "host": STRING,
            "prediction_id": STRING,
            "rows": INTEGER,
        }
    ),
    "DurationBin": _object({"from_ms": NUMBER, "to_ms": NUMBER, "calls": INTEGER}),
    "TreeSpan": _object(
        {
            "start_ns": INTEGER,
            "span_id": STRING,
            "parent_span_id": STRING,
            "name": STRING,
            "kind": STRING,
            "service": STRING,
            "duration_ns": INTEGER,
            "status": STRING,
            "status_message": STRING,
            "attributes": {"type": "object", "description": "values with their OTLP types"},
            "resource": {"type": "integer", "description": "its resource: an index into the answer's resources"},
            "scope": STRING,
            "event_times": COUNTS,
            "event_names": {"type": "array", "items": STRING},
            "event_attributes": {"type": "array", "items": ANY_OBJECT},
        }
    ),
    "DeadLetter": {"type": "object", "required": ["id", "cause", "replayable"]},
    "DeadLetterSelection": {
        "type": "object",
        "properties": {"ids": {"type": "array", "items": STRING}, "cause": STRING, "all": {"const": True}},
        "description": 'Which: {"ids": [...]}, {"cause": "..."} or {"all": true}.',
    },
}


def _paths() -> dict[str, Any]:
    def get(summary: str, schema: dict[str, Any], *params: dict[str, Any], tag: str = "read") -> dict[str, Any]:
        return {"get": {"summary": summary, "tags": [tag], "parameters": list(params), "responses": _ok(schema)}}

    def post(
        summary: str, body: dict[str, Any] | None, schema: dict[str, Any], *params: dict[str, Any], status: str = "200"
    ) -> dict[str, Any]:
        op: dict[str, Any] = {
            "summary": summary,
            "tags": ["admin"],
            "parameters": list(params),
            "responses": _ok(schema, status=status),
        }
        if body is not None:
            op["requestBody"] = {"required": True, "content": {JSON: {"schema": body}}}
        return {"post": op}

    findings = _list_of("findings", _ref("Finding"))
    return {
        "/health": get("Liveness: the process answers (no token needed).", _ref("Health"), tag="probes"),
        "/ready": {
            "get": {
                "summary": "Readiness: storage reachable and every part storing; 503 with reasons when not.",
                "tags": ["probes"],
                "responses": {
                    "200": {"description": "Ready", "content": {JSON: {"schema": _ref("Readiness")}}},
                    "503": {"description": "Not ready", "content": {JSON: {"schema": _ref("Readiness")}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "The collector's own metrics in the Prometheus text format.",
                "tags": ["read"],
                "responses": {"200": {"description": "OK", "content": {"text/plain": {"schema": STRING}}}},
            }
        },
        "/openapi.json": get("This document.", ANY_OBJECT, tag="probes"),
        "/api/models": get(
            "Models and versions with calls in the window (default 30 days).",
            _list_of("models", _ref("ModelVersion")),
            WINDOW,
        ),
        "/api/latency": get(
            "Latency percentiles and errors per model, version and operation (default window 1 hour).",
            _list_of("latency", _ref("Latency"), window_seconds=INTEGER),
            WINDOW,
            MODEL,
        ),
        "/api/hotspots": get(
            "The functions with the most self time in profiled calls, per model and version (default 1 day).",
            _list_of("hotspots", _ref("Hotspot"), window_seconds=INTEGER, start_ms=MS, end_ms=MS),
            *RANGE,
            MODEL,
            VERSION,
            LIMIT,
        ),
        "/api/hotspots/diff": get(
            "Self time per profiled call of each function in two versions, largest change first "
            "(default: the two newest versions, 7 days).",
            _object(
                {
                    "functions": {"type": "array", "items": _ref("HotspotChange")},
                    "model": STRING,
                    "start_ms": MS,
                    "end_ms": MS,
                    "from": STRING,
                    "to": STRING,
                },
                {"note": {**STRING, "description": "why nothing is compared (a model with one version)"}},
            ),
            _param("model", "A model name.", required=True),
            _param("from", "The version before (default: the second newest)."),
            _param("to", "The version after (default: the newest)."),
            *RANGE,
            LIMIT,
        ),
        "/api/ui": get("What the web UI needs of the configuration.", _object({"jaeger_ui_url": STRING})),
        "/api/overview": get(
            "Every model version with calls in the range (default 1 hour): rates, latency, a p95 sparkline, "
            "open findings and the latest drift pass.",
            _list_of("models", _ref("ModelOverview"), start_ms=MS, end_ms=MS),
            *RANGE,
            MODEL,
            _param("points", "Buckets of the sparklines (2 to 200, default 30).", {"type": "integer"}),
        ),
        "/api/series": get(
            "Calls, errors and p50/p95/p99 per version and step of one model (from the per-minute rollup), "
            "its deploys and operations.",
            _object(
                {
                    "model": STRING,
                    "operation": STRING,
                    "start_ms": MS,
                    "end_ms": MS,
                    "step_seconds": INTEGER,
                    "points": {"type": "array", "items": _ref("SeriesPoint")},
                    "deploys": {"type": "array", "items": _ref("Deploy")},
                    "operations": {"type": "array", "items": _ref("OperationCalls")},
                }
            ),
            _param("model", "A model name.", required=True),
            *RANGE,
            _param("operation", "One operation (default: all)."),
            _param("step", "The step: whole minutes (60, 5m, 1h); default about 300 steps over the range."),
        ),
        "/api/drift/features": get(
            "The latest stored drift result of every feature of a model in the range (default 1 day).",
            _list_of("features", _ref("DriftFeature"), model=STRING, start_ms=MS, end_ms=MS),
            _param("model", "A model name.", required=True),
            *RANGE,
        ),
        "/api/drift/scores": get(
            "One feature's drift score at every analysis pass in the range (default 1 day).",
            _list_of("scores", _ref("DriftScore"), model=STRING, feature=STRING, side=STRING),
            _param("model", "A model name.", required=True),
            FEATURE,
            SIDE,
            *RANGE,
        ),
        "/api/drift/distribution": get(
            "One feature's reference and current distributions as the drift test compares them.",
            _ref("Distribution"),
            _param("model", "A model name.", required=True),
            FEATURE,
            VERSION,
            SIDE,
            AT,
            WINDOW,
            _param("reference", "auto, upload or window", {"enum": ["", "auto", "upload", "window"]}),
        ),
        "/api/calls": get(
            "Model calls matching a search, with a histogram of their durations (default 1 hour).",
            _object(
                {
                    "start_ms": MS,
                    "end_ms": MS,
                    "calls": {"type": "array", "items": _ref("Call")},
                    "histogram": {"type": "array", "items": _ref("DurationBin")},
                    "total": INTEGER,
                }
            ),
            *RANGE,
            MODEL,
            VERSION,
            _param("operation", "An operation."),
            _param("status", "ok or error", {"enum": ["", "ok", "error"]}),
            _param("min_ms", "The shortest duration kept (ms)."),
            _param("max_ms", "The longest duration kept (ms)."),
            _param("attribute", "key=value of the span or its resource."),
            _param("order", "newest (default) or slowest", {"enum": ["", "newest", "slowest"]}),
            LIMIT,
        ),
        "/api/predictions": get(
            "The latest calls, newest first.", _list_of("predictions", _ref("Prediction")), MODEL, LIMIT
        ),
        "/api/traces/{trace_id}": get(
            "The spans of one trace; view=tree: the UI's form (nanoseconds, events, up to 50,000 spans).",
            {
                "oneOf": [
                    _list_of("spans", _ref("Span"), trace_id=STRING),
                    _list_of(
                        "spans",
                        _ref("TreeSpan"),
                        trace_id=STRING,
                        truncated={"type": "boolean"},
                        resources={"type": "array", "items": ANY_OBJECT},
                    ),
                ]
            },
            _param("trace_id", "32 hex characters", {"type": "string", "pattern": "^[0-9a-fA-F]{32}$"}, where="path"),
            _param("view", "tree for the UI's form", {"enum": ["", "tree"]}),
        ),
        "/api/sql": {
            "get": {
                "summary": "A read-only SELECT over the product's tables; values as param_<name>=... .",
                "tags": ["read"],
                "parameters": [_param("query", "One SELECT statement.", required=True)],
                "responses": _ok(_ref("SqlAnswer")),
            },
            "post": {
                "summary": "The same, with the query and its parameters in a JSON body.",
                "tags": ["read"],
                "requestBody": {"required": True, "content": {JSON: {"schema": _ref("SqlRequest")}}},
                "responses": _ok(_ref("SqlAnswer")),
            },
        },
        "/api/findings": get(
            "Findings (latency, latency_drop, error_rate, traffic_drop, drift, dataset_drift, data_quality, "
            "performance), newest first.",
            findings,
            MODEL,
            _param("kind", "a finding kind: latency, latency_drop, error_rate, traffic_drop, drift, ..."),
            _param("status", "open or resolved", {"enum": ["", "open", "resolved"]}),
            WINDOW,
            LIMIT,
        ),
        "/api/findings/{finding_id}": get(
            "One finding.", _ref("Finding"), _param("finding_id", "16 hex characters", where="path")
        ),
        "/api/anomalies": get(
            "Latency, latency-drop, error-rate and traffic-drop findings; live=true runs the detector now instead.",
            _object({"anomalies": {"type": "array", "items": _ref("Finding")}}, {"live": {"type": "boolean"}}),
            MODEL,
            AT,
            _param("live", "true or false"),
            _param("status", "open or resolved"),
        ),
        "/api/drift": get(
            "A drift report per active version of a model: per feature, the test, score and threshold.",
            _object({"model": STRING, "reports": {"type": "array", "items": ANY_OBJECT}}),
            {**MODEL, "required": True},
            _param("version", "Only this version."),
            WINDOW,
            AT,
            _param("reference", "auto, upload or window", {"enum": ["", "auto", "upload", "window"]}),
        ),
        "/api/rca": get(
            "Root causes of slow or failed calls of a model between start and end.",
            ANY_OBJECT,
            {**MODEL, "required": True},
            _param("start", "epoch or ISO 8601", required=True),
            _param("end", "epoch or ISO 8601", required=True),
            _param("operation", "Default: the model's busiest operation in the range."),
            _param("version", "Only this version."),
            _param("kind", "latency or error_rate"),
        ),
        "/api/rca/{finding_id}": get(
            "The ranked causes of a latency or error-rate finding, with their evidence.",
            _object({"finding": _ref("Finding")}, extra=True),
            _param("finding_id", "16 hex characters", where="path"),
        ),
        "/api/performance": get(
            "Accuracy and F1 (or MAE and RMSE) over time from feedback; a confidence-based estimate without it.",
            ANY_OBJECT,
            {**MODEL, "required": True},
            WINDOW,
            _param("bucket", "Bucket width, like window."),
            AT,
            _param("prediction_field", "The output field holding the prediction."),
            _param("score_field", "The output field holding the confidence (default score)."),
        ),
        "/api/analysis/run": post("Run the analysis now (admin).", None, ANY_OBJECT, MODEL, AT),
        "/api/references": {
            **get("The newest 100 references (of a model).", _list_of("references", _ref("Reference")), MODEL),
            **post(
                "Upload a reference: feature values drift is judged against (admin).",
                _ref("ReferenceUpload"),
                _ref("ReferenceStored"),
                status="201",
            ),
        },
        "/api/deadletters": get(
            "Spans ClickHouse refused, newest first, with counts by cause.",
            _object(
                {
                    "total": INTEGER,
                    "by_cause": {"type": "object", "additionalProperties": INTEGER},
                    "dropped": INTEGER,
                    "bytes": INTEGER,
                    "entries": {"type": "array", "items": _ref("DeadLetter")},
                }
            ),
            _param("cause", "Only this cause."),
            LIMIT,
        ),
        "/api/deadletters/export": get(
            "Dead letters with their OTLP/JSON requests, a page at a time, oldest first.",
            _object(
                {
                    "entries": {"type": "array", "items": _ref("DeadLetter")},
                    "next_offset": {"type": ["integer", "null"]},
                }
            ),
            _param("cause", "Only this cause."),
            _param("offset", "Entries to skip.", INTEGER),
            LIMIT,
        ),
        "/api/deadletters/replay": post(
            "Send dead letters through the pipeline again (admin).", _ref("DeadLetterSelection"), ANY_OBJECT
        ),
        "/api/deadletters/drop": post(
            "Delete dead letters (admin).", _ref("DeadLetterSelection"), _object({"dropped": INTEGER})
        ),
    }


@functools.cache
def document() -> bytes:
    doc = {
        "openapi": "3.1.0",
        "info": {
            "title": "modeltrace collector API",
            "version": __version__,
            "description": (
                "Models, latency, hotspots, calls, traces, findings, drift, root causes, performance, references, "
                "dead letters and read-only SQL. Jaeger's query API is served under /jaeger/api as Jaeger defines it. "
                "With keys configured, every route but /health and /ready needs a bearer token: read, or admin for "
                "the POST routes tagged admin."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "probes", "description": "Answered without a token."},
            {"name": "read", "description": "The read scope (or admin)."},
            {"name": "admin", "description": "The admin scope."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API key (mt_...)"}},
        },
    }
    for name in ("/health", "/ready", "/openapi.json"):
        for op in doc["paths"][name].values():  # type: ignore[index]
            op["security"] = []
    return json.dumps(doc, indent=1).encode()
