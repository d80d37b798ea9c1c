"""Builds the provisioned Grafana dashboards (``deploy/grafana/dashboards/*.json``).

    python deploy/grafana/dashboards.py

Every panel queries ClickHouse through the ClickHouse data source (uid ``modeltrace-clickhouse``)
with the plugin's macros ($__timeFilter, $__timeInterval, $__interval_s, ...) and the
dashboard's ``model`` variable. ``COLUMNS`` lists what each panel's query must return; the
test suite runs every query against chDB with the macros expanded and checks it.
"""

from __future__ import annotations

import json
import pathlib
import sys
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
OUT = HERE / "dashboards"
DS = {"type": "grafana-clickhouse-datasource", "uid": "modeltrace-clickhouse"}
DB = "modeltrace"
# Grafana's query format numbers (sqlutil): 0 time series, 1 table, 3 trace
TIME_SERIES, TABLE, TRACE = 0, 1, 3

MODEL_VAR = {
    "name": "model",
    "label": "Model",
    "type": "query",
    "datasource": DS,
    "query": f"SELECT DISTINCT ModelName FROM {DB}.ml_predictions WHERE $__timeFilter(Timestamp) ORDER BY ModelName",
    "refresh": 2,
    "includeAll": False,
    "multi": False,
}

# panel title -> the columns its query returns (checked by tests/collector/test_deploy.py)
COLUMNS: dict[str, list[str]] = {}


def panel(
    title: str,
    sql: str,
    columns: list[str],
    kind: str = "timeseries",
    fmt: int = TIME_SERIES,
    query_type: str = "timeSeries",
    unit: str = "",
    w: int = 12,
    h: int = 8,
    description: str = "",
) -> dict[str, Any]:
    COLUMNS[title] = columns
    p: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"w": w, "h": h},
        "targets": [
            {
                "refId": "A",
                "datasource": DS,
                "editorType": "sql",
                "queryType": query_type,
                "format": fmt,
                "rawSql": " ".join(sql.split()),
            }
        ],
        "fieldConfig": {"defaults": {"unit": unit} if unit else {}, "overrides": []},
        "options": {},
    }
    return p


def table(title: str, sql: str, columns: list[str], **kw: Any) -> dict[str, Any]:
    return panel(title, sql, columns, kind="table", fmt=TABLE, query_type="table", **kw)


def dashboard(uid: str, title: str, panels: list[dict[str, Any]], variables: list[dict[str, Any]]) -> dict[str, Any]:
    x = y = row_h = 0
    for i, p in enumerate(panels, start=1):
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if x + w > 24:
            x, y = 0, y + row_h
            row_h = 0
        p["id"] = i
        p["gridPos"] = {"x": x, "y": y, "w": w, "h": h}
        x += w
        row_h = max(row_h, h)
    return {
        "uid": uid,
        "title": title,
        "tags": ["modeltrace"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "panels": panels,
    }


def overview() -> dict[str, Any]:
    rollup = f"{DB}.ml_latency_minutes"
    return dashboard(
        "modeltrace-overview",
        "modeltrace: models overview",
        [
            panel(
                "Calls per second by model and version",
                f"""SELECT $__timeInterval(Minute) AS time, concat(ModelName, ' ', ModelVersion) AS model_version,
                    sum(Calls) / greatest($__interval_s, 60) AS calls_per_second
                FROM {rollup} WHERE $__timeFilter(Minute)
                GROUP BY time, model_version ORDER BY time""",
                ["time", "model_version", "calls_per_second"],
                unit="reqps",
            ),
            panel(
                "Error rate by model and version",
                f"""SELECT $__timeInterval(Minute) AS time, concat(ModelName, ' ', ModelVersion) AS model_version,
                    sum(Errors) / greatest(sum(Calls), 1) AS error_rate
                FROM {rollup} WHERE $__timeFilter(Minute)
                GROUP BY time, model_version ORDER BY time""",
                ["time", "model_version", "error_rate"],
                unit="percentunit",
            ),
            panel(
                "Latency of $model: p50, p95, p99 by version",
                f"""SELECT $__timeInterval(Minute) AS time, ModelVersion AS version,
                    if(sum(UnprofiledCalls) >= greatest(5, sum(Calls) / 2),
                       quantilesTDigestMerge(0.5, 0.95, 0.99)(UnprofiledDurations),
                       quantilesTDigestMerge(0.5, 0.95, 0.99)(Durations)) AS q,
                    q[1] / 1e6 AS p50_ms, q[2] / 1e6 AS p95_ms, q[3] / 1e6 AS p99_ms
                FROM {rollup} WHERE $__timeFilter(Minute) AND ModelName = ${{model:singlequote}}
                GROUP BY time, version ORDER BY time""",
                ["time", "version", "q", "p50_ms", "p95_ms", "p99_ms"],
                unit="ms",
                w=24,
                description="Profiled calls carry cProfile's overhead; they are left out while the others are"
                " at least half of the calls, as in the anomaly detector",
            ),
            table(
                "Models and versions in the time range",
                f"""SELECT ModelName AS model, ModelVersion AS version, Operation AS operation,
                    count() AS calls, countIf(StatusCode IN ('Error', 'STATUS_CODE_ERROR')) AS errors,
                    round(quantile(0.5)(Duration) / 1e6, 2) AS p50_ms,
                    round(quantile(0.95)(Duration) / 1e6, 2) AS p95_ms,
                    round(quantile(0.99)(Duration) / 1e6, 2) AS p99_ms, min(Timestamp) AS first_seen,
                    max(Timestamp) AS last_seen, uniqExact(HostName) AS hosts
                FROM {DB}.ml_predictions WHERE $__timeFilter(Timestamp)
                GROUP BY model, version, operation ORDER BY model, last_seen DESC""",
                [
                    "model",
                    "version",
                    "operation",
                    "calls",
                    "errors",
                    "p50_ms",
                    "p95_ms",
                    "p99_ms",
                    "first_seen",
                    "last_seen",
                    "hosts",
                ],
                w=24,
            ),
        ],
        [MODEL_VAR],
    )


def drift() -> dict[str, Any]:
    scores = f"{DB}.ml_drift_scores"
    return dashboard(
        "modeltrace-drift",
        "modeltrace: drift",
        [
            panel(
                "PSI per input feature of $model",
                f"""SELECT $__timeInterval(Timestamp) AS time, concat(ModelVersion, ' ', Feature) AS feature,
                    max(PSI) AS psi
                FROM {scores} WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}} AND Side = 'input'
                GROUP BY time, feature ORDER BY time""",
                ["time", "feature", "psi"],
                w=12,
                description="Population stability index against the reference, per analysis run",
            ),
            panel(
                "Headline test score over threshold, per feature of $model",
                f"""SELECT $__timeInterval(Timestamp) AS time, concat(ModelVersion, ' ', Side, '.', Feature) AS feature,
                    max(if(Test IN ('ks', 'chisquare'), -log10(greatest(PValue, 1e-300)) / -log10(Threshold),
                           Score / Threshold)) AS score_over_threshold
                FROM {scores} WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}}
                GROUP BY time, feature ORDER BY time""",
                ["time", "feature", "score_over_threshold"],
                w=12,
                description="Above 1: the feature's headline test says it drifted",
            ),
            table(
                "Features of $model now (latest run)",
                f"""SELECT ModelVersion AS version, Side AS side, Feature AS feature, argMax(Test, Timestamp) AS test,
                    argMax(Score, Timestamp) AS score, argMax(Threshold, Timestamp) AS threshold,
                    argMax(Drifted, Timestamp) AS drifted, argMax(PSI, Timestamp) AS psi,
                    argMax(PValue, Timestamp) AS adjusted_p, argMax(NullRate, Timestamp) AS null_rate,
                    argMax(OutOfRangeRate, Timestamp) AS out_of_range, argMax(NCurrent, Timestamp) AS n_current,
                    max(Timestamp) AS at
                FROM {scores} WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}}
                GROUP BY version, side, feature ORDER BY drifted DESC, psi DESC""",
                [
                    "version",
                    "side",
                    "feature",
                    "test",
                    "score",
                    "threshold",
                    "drifted",
                    "psi",
                    "adjusted_p",
                    "null_rate",
                    "out_of_range",
                    "n_current",
                    "at",
                ],
                w=24,
            ),
            table(
                "Open drift and data-quality findings",
                f"""SELECT FindingId AS id, Kind AS kind, ModelName AS model, ModelVersion AS version,
                    Subject AS subject, Severity AS severity, Score AS score, OpenedAt AS opened,
                    JSONExtractString(Evidence, 'summary') AS summary
                FROM {DB}.ml_findings FINAL
                WHERE Kind IN ('drift', 'dataset_drift', 'data_quality') AND ResolvedAt IS NULL
                ORDER BY opened DESC LIMIT 200""",
                ["id", "kind", "model", "version", "subject", "severity", "score", "opened", "summary"],
                w=24,
            ),
        ],
        [MODEL_VAR],
    )


def anomalies() -> dict[str, Any]:
    findings = f"{DB}.ml_findings FINAL"
    return dashboard(
        "modeltrace-anomalies",
        "modeltrace: anomalies and root causes",
        [
            panel(
                "Findings opened",
                f"""SELECT $__timeInterval(OpenedAt) AS time, Kind AS kind, count() AS findings
                FROM {findings} WHERE $__timeFilter(OpenedAt)
                GROUP BY time, kind ORDER BY time""",
                ["time", "kind", "findings"],
                kind="barchart",
                w=24,
                h=6,
            ),
            table(
                "Latency and error anomalies with their top root cause",
                f"""SELECT FindingId AS id, Kind AS kind, ModelName AS model, ModelVersion AS version,
                    Operation AS operation, Severity AS severity, WindowStart AS window_start,
                    WindowEnd AS window_end, if(ResolvedAt IS NULL, 'open', 'resolved') AS status,
                    JSONExtractString(Evidence, 'summary') AS summary,
                    JSONExtractString(Evidence, 'root_causes', 1, 'evidence') AS top_cause,
                    JSONExtractString(Evidence, 'root_causes', 2, 'evidence') AS second_cause
                FROM {findings}
                WHERE Kind IN ('latency', 'error_rate')
                  AND (ResolvedAt IS NULL OR $__timeFilter(WindowEnd))
                ORDER BY status = 'open' DESC, window_start DESC LIMIT 200""",
                [
                    "id",
                    "kind",
                    "model",
                    "version",
                    "operation",
                    "severity",
                    "window_start",
                    "window_end",
                    "status",
                    "summary",
                    "top_cause",
                    "second_cause",
                ],
                w=24,
                h=10,
            ),
            table(
                "Root causes of anomalies of $model",
                f"""SELECT FindingId AS id, WindowStart AS window_start, rank, JSONExtractString(c, 'type') AS type,
                    concat(JSONExtractString(c, 'dimension'), '=', JSONExtractString(c, 'value')) AS cause,
                    round(JSONExtractFloat(c, 'score'), 3) AS score,
                    JSONExtractString(c, 'evidence') AS evidence
                FROM {findings}
                ARRAY JOIN JSONExtractArrayRaw(Evidence, 'root_causes') AS c,
                    arrayEnumerate(JSONExtractArrayRaw(Evidence, 'root_causes')) AS rank
                WHERE Kind IN ('latency', 'error_rate') AND ModelName = ${{model:singlequote}}
                  AND (ResolvedAt IS NULL OR $__timeFilter(WindowEnd))
                ORDER BY window_start DESC, rank LIMIT 100""",
                ["id", "window_start", "rank", "type", "cause", "score", "evidence"],
                w=24,
                h=10,
            ),
        ],
        [MODEL_VAR],
    )


def hotspots() -> dict[str, Any]:
    spots = f"{DB}.ml_hotspots"
    return dashboard(
        "modeltrace-hotspots",
        "modeltrace: hotspots",
        [
            table(
                "Top functions of $model by self time, per version",
                f"""SELECT ModelVersion AS version, Function AS function, File AS file, Line AS line,
                    count() AS profiled_calls, round(avg(SelfMs), 3) AS self_ms_avg, round(avg(CumMs), 3) AS cum_ms_avg,
                    round(sum(SelfMs), 1) AS self_ms_total
                FROM {spots} WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}}
                GROUP BY version, function, file, line
                ORDER BY version, self_ms_total DESC LIMIT 15 BY version""",
                [
                    "version",
                    "function",
                    "file",
                    "line",
                    "profiled_calls",
                    "self_ms_avg",
                    "cum_ms_avg",
                    "self_ms_total",
                ],
                w=24,
                h=10,
            ),
            panel(
                "Self time per profiled call of $model's top functions",
                f"""SELECT $__timeInterval(Timestamp) AS time, Function AS function, avg(SelfMs) AS self_ms
                FROM {spots} WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}}
                  AND Function IN (SELECT Function FROM {spots} WHERE $__timeFilter(Timestamp)
                                   AND ModelName = ${{model:singlequote}}
                                   GROUP BY Function ORDER BY sum(SelfMs) DESC LIMIT 8)
                GROUP BY time, function ORDER BY time""",
                ["time", "function", "self_ms"],
                unit="ms",
                w=24,
            ),
        ],
        [MODEL_VAR],
    )


def traces() -> dict[str, Any]:
    trace_var = {"name": "trace_id", "label": "Trace ID", "type": "textbox", "query": ""}
    return dashboard(
        "modeltrace-traces",
        "modeltrace: traces",
        [
            panel(
                "Slowest calls of $model (click a trace id)",
                f"""SELECT TraceId AS traceID, ServiceName AS serviceName,
                    concat(Operation, ' ', ModelName) AS operationName,
                    multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
                    multiply(Duration, 0.000001) AS duration
                FROM {DB}.ml_predictions
                WHERE $__timeFilter(Timestamp) AND ModelName = ${{model:singlequote}}
                ORDER BY Duration DESC LIMIT 100""",
                ["traceID", "serviceName", "operationName", "startTime", "duration"],
                kind="table",
                fmt=TABLE,
                query_type="traces",
                w=24,
                h=10,
            ),
            panel(
                "Trace $trace_id",
                f"""WITH ${{trace_id:singlequote}} AS trace_id,
                    (SELECT min(Start) FROM {DB}.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_start,
                    (SELECT max(End) + 1 FROM {DB}.otel_traces_trace_id_ts WHERE TraceId = trace_id) AS trace_end
                SELECT TraceId AS traceID, SpanId AS spanID, ParentSpanId AS parentSpanID,
                    ServiceName AS serviceName, SpanName AS operationName,
                    multiply(toUnixTimestamp64Nano(Timestamp), 0.000001) AS startTime,
                    multiply(Duration, 0.000001) AS duration,
                    arrayMap(key -> map('key', key, 'value', SpanAttributes[key]), mapKeys(SpanAttributes)) AS tags,
                    arrayMap(key -> map('key', key, 'value', ResourceAttributes[key]), mapKeys(ResourceAttributes))
                        AS serviceTags,
                    if(StatusCode IN ('Error', 'STATUS_CODE_ERROR'), 2, 0) AS statusCode,
                    SpanKind AS kind, StatusMessage AS statusMessage, TraceState AS traceState
                FROM {DB}.otel_traces
                WHERE TraceId = trace_id AND Timestamp >= trace_start AND Timestamp <= trace_end
                ORDER BY startTime LIMIT 10000""",
                [
                    "traceID",
                    "spanID",
                    "parentSpanID",
                    "serviceName",
                    "operationName",
                    "startTime",
                    "duration",
                    "tags",
                    "serviceTags",
                    "statusCode",
                    "kind",
                    "statusMessage",
                    "traceState",
                ],
                kind="traces",
                fmt=TRACE,
                query_type="traces",
                w=24,
                h=14,
            ),
        ],
        [MODEL_VAR, trace_var],
    )


def build() -> dict[str, dict[str, Any]]:
    COLUMNS.clear()
    return {d["uid"]: d for d in (overview(), drift(), anomalies(), hotspots(), traces())}


def render(d: dict[str, Any]) -> str:
    return json.dumps(d, indent=2, sort_keys=False) + "\n"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    for uid, d in build().items():
        path = OUT / f"{uid}.json"
        path.write_text(render(d), "utf-8")
        print(path.relative_to(HERE.parent.parent))
    return 0


if __name__ == "__main__":
    sys.exit(main())
