"""The analysis commands of the ``modeltrace`` CLI: drift, anomalies, rca, performance, findings,
reference and analyze. Like the other reading commands they go through the collector's API."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
from typing import Any

from .cli_api import api_get, api_post, print_table


def _when(ms: Any) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _finding_rows(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for f in findings:
        ev = f.get("evidence") or {}
        causes = ev.get("root_causes") or []
        rows.append(
            {
                "id": f["id"],
                "kind": f["kind"],
                "model": f["model"],
                "version": f["version"],
                "subject": f["subject"] if not f.get("operation") else f"{f['operation']} {f['subject']}",
                "severity": f["severity"],
                "status": f["status"],
                "opened": f["opened_at"][:16].replace("T", " ") + " UTC",  # the API writes UTC
                "summary": (ev.get("summary") or "") + (f" | cause: {causes[0]['evidence']}" if causes else ""),
            }
        )
    return rows


def _load_table(path: str) -> dict[str, list[Any]]:
    try:
        import pandas as pd
    except ImportError:
        raise SystemExit(
            "modeltrace: reading a reference file needs pandas: pip install pandas (and pyarrow for Parquet)"
        )
    parquet = path.endswith((".parquet", ".pq"))
    try:
        frame = pd.read_parquet(path) if parquet else pd.read_csv(path)
    except (OSError, ValueError, ImportError) as exc:  # missing file, not CSV/Parquet, no Parquet engine
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f"modeltrace: cannot read {path} as {'Parquet' if parquet else 'CSV'}: {first}") from None
    if frame.empty or not len(frame.columns):
        raise SystemExit(f"modeltrace: {path} holds no rows: a reference is one column per feature, one row per sample")
    out: dict[str, list[Any]] = {}
    for column in frame.columns:
        series = frame[column]
        if series.dtype.kind in "biuf":
            out[str(column)] = [None if (isinstance(v, float) and math.isnan(v)) else float(v) for v in series.tolist()]
        else:
            out[str(column)] = [
                None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in series.tolist()
            ]
    return out


def run(args: argparse.Namespace, base: str) -> int:
    data, rows, cols = COMMANDS[args.command](args, base)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_table(rows, cols)
    return 0


def _findings(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    data = api_get(
        base,
        "/api/findings",
        {"model": args.model, "kind": args.kind, "status": args.status, "window": args.window},
    )
    rows = _finding_rows(data["findings"])
    cols = ["id", "kind", "model", "version", "subject", "severity", "status", "opened", "summary"]
    return data, rows, cols


def _anomalies(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    data = api_get(base, "/api/anomalies", {"model": args.model, "status": args.status})
    rows = _finding_rows(data["anomalies"])
    cols = ["id", "kind", "model", "version", "subject", "severity", "status", "opened", "summary"]
    return data, rows, cols


def _analyze(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    data = api_post(base, "/api/analysis/run", {"model": args.model, "at": args.at})
    rows = _finding_rows(data["opened"]) + _finding_rows(data["resolved"])
    cols = ["id", "kind", "model", "version", "subject", "severity", "status", "summary"]
    return data, rows, cols


def _drift(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    data = api_get(
        base,
        "/api/drift",
        {
            "model": args.model,
            "version": args.version,
            "window": args.window,
            "reference": args.reference,
            "at": args.at,
        },
    )
    rows = []
    for report in data["reports"]:
        for f in report["features"]:
            if not (args.all or f["drifted"] or f["quality"]):
                continue
            rows.append(
                {
                    "version": report["version"],
                    "feature": f"{f['side']}.{f['feature']}",
                    "type": f["type"],
                    "test": f["test"],
                    "score": f["score"],
                    "threshold": f["threshold"],
                    "drifted": "DRIFT" if f["drifted"] else "",
                    "psi": f["metrics"].get("psi"),
                    "n_ref": f["n_reference"],
                    "n_cur": f["n_current"],
                    "quality": "; ".join(f["quality"]),
                }
            )
    cols = [
        "version",
        "feature",
        "type",
        "test",
        "score",
        "threshold",
        "drifted",
        "psi",
        "n_ref",
        "n_cur",
        "quality",
    ]
    if not args.json:
        for report in data["reports"]:
            tested = sum(1 for f in report["features"] if f["tested"] and f["side"] == "input")
            print(
                f"{args.model} {report['version']}: {report['drift_share']:.0%} of {tested} input features drifted"
                f"{' (dataset drift)' if report['dataset_drift'] else ''}; reference: {report['reference']['kind']}"
            )
    return data, rows, cols


def _rca(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    finding_id = args.finding_id
    if not finding_id and args.model and not (args.start or args.end):
        # a model alone: its newest open finding of that kind
        found = api_get(base, "/api/findings", {"model": args.model, "kind": args.kind, "status": "open", "limit": 1})
        if not found["findings"]:
            raise SystemExit(
                f"modeltrace: no open {args.kind} finding for {args.model!r}; "
                "give --start and --end to look at a time range"
            )
        finding_id = found["findings"][0]["id"]
    if finding_id:
        data = api_get(base, f"/api/rca/{finding_id}", {})
    else:
        data = api_get(
            base,
            "/api/rca",
            {
                "model": args.model,
                "operation": args.operation,
                "start": args.start,
                "end": args.end,
                "kind": args.kind,
            },
        )
    rows = [
        {
            "rank": i + 1,
            "type": c["type"],
            "cause": f"{c['dimension']}={c['value']}",
            "score": c["score"],
            "ranked_by": c.get("rank_score", c["score"]),
            "evidence": c["evidence"],
        }
        for i, c in enumerate(data["causes"])
    ]
    cols = ["rank", "type", "cause", "score", "ranked_by", "evidence"]
    if not args.json:
        print(
            f"{data['model']} {data['operation']} {data['kind']}: {data['target_calls']} "
            f"{'failed' if data['kind'] == 'error_rate' else 'slow'} calls "
            f"from {_when(data['window']['start_ms'])} "
            f"to {_when(data['window']['end_ms'])} against {data['baseline']['calls']} baseline calls"
        )
        if data.get("ranking") and any(r["ranked_by"] != r["score"] for r in rows):
            print(f"(ranked {data['ranking']})")
    return data, rows, cols


def _performance(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    data = api_get(base, "/api/performance", {"model": args.model, "window": args.window})
    rows = [{**r, "bucket": _when(r.pop("bucket_ms"))} for r in data["measured"] + data["estimated"]]
    for r in rows:
        if "ci95" in r:
            r["ci95"] = f"{r['ci95'][0]:.3f}..{r['ci95'][1]:.3f}"
    if data["task"] == "regression":
        cols = ["version", "bucket", "n", "mae", "rmse"]
    else:
        cols = ["version", "bucket", "n", "accuracy", "precision", "recall", "f1", "estimated_accuracy", "ci95"]
    if not args.json:
        if data.get("note"):
            print(f"{args.model}: nothing measured: {data['note']}")
        else:
            print(f"{args.model}: {data['task']} on field {data['prediction_field']!r}")
    return data, rows, cols


def _reference(args: argparse.Namespace, base: str) -> tuple[Any, list[dict[str, Any]], list[str]]:
    table = _load_table(args.file)
    outputs = {c for c in args.outputs.split(",") if c}
    unknown = outputs - set(table)
    if unknown:
        raise SystemExit(f"modeltrace: --outputs names columns not in {args.file}: {', '.join(sorted(unknown))}")
    from modeltrace._internal.reference import upload_reference

    sides = {
        "features": {k: v for k, v in table.items() if k not in outputs},
        "outputs": {k: v for k, v in table.items() if k in outputs},
    }
    fields = {"model": args.model, "version": args.version, "source": f"file:{args.file}"}
    try:  # a large reference goes per feature, under one reference id
        reference_id = upload_reference(base.rstrip("/"), fields, sides)
    except RuntimeError as exc:
        raise SystemExit(f"modeltrace: {exc}") from None
    data = {
        "reference_id": reference_id,
        "model": args.model,
        "version": args.version,
        "features": sum(len(table) for table in sides.values()),
        "values": sum(len(v) for table in sides.values() for v in table.values()),
    }
    rows, cols = [data], ["reference_id", "model", "version", "features", "values"]
    return data, rows, cols


COMMANDS = {
    "findings": _findings,
    "anomalies": _anomalies,
    "analyze": _analyze,
    "drift": _drift,
    "rca": _rca,
    "performance": _performance,
    "reference": _reference,
}
