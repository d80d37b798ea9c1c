"""The ``modeltrace`` command: run the collector, and read what it stored.

Reading commands ask the collector's API (the embedded store belongs to the collector
process), so they work the same with chDB and with a ClickHouse server.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from modeltrace.version import __version__

from .cli_api import DEFAULT_API, api_get, api_post, print_table

COMMANDS = (
    "collector",
    "models",
    "latency",
    "hotspots",
    "predictions",
    "trace",
    "sql",
    "drift",
    "anomalies",
    "rca",
    "performance",
    "findings",
    "reference",
    "analyze",
    "deadletters",
    "keys",
)


def _collector_args(p: argparse.ArgumentParser) -> None:
    from .config import ApiSettings, General, JaegerSettings, ReceiverSettings, StorageSettings

    receivers = ReceiverSettings()
    p.add_argument("--config", "-c", help="TOML or YAML config file (every setting: examples/collector.toml)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE", help="override a setting")
    p.add_argument(
        "--storage-dsn",
        help=f"chdb://PATH or http(s)://user:pass@host:8123 (default {StorageSettings().dsn}, in the data directory)",
    )
    p.add_argument(
        "--data-dir", help=f"where the embedded store, the spool and the keys live (default ./{General().data_dir})"
    )
    p.add_argument("--grpc", help=f"OTLP/gRPC listen address, '' to disable (default {receivers.grpc})")
    p.add_argument("--http", help=f"OTLP/HTTP listen address, '' to disable (default {receivers.http})")
    p.add_argument("--api", help=f"API listen address, '' to disable (default {ApiSettings().listen})")
    p.add_argument(
        "--jaeger-grpc",
        help=f"Jaeger remote storage gRPC listen address, '' to disable (default {JaegerSettings().grpc})",
    )


def _load_config(args: argparse.Namespace) -> Any:
    from .config import load

    overrides: dict[str, Any] = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"modeltrace: --set expects SECTION.KEY=VALUE, got {item!r}")
        overrides[key] = value
    for flag, key in (
        ("storage_dsn", "storage.dsn"),
        ("data_dir", "data_dir"),
        ("grpc", "receivers.grpc"),
        ("http", "receivers.http"),
        ("api", "api.listen"),
        ("jaeger_grpc", "jaeger.grpc"),
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[key] = value
    return load(args.config, overrides=overrides)


ANALYSIS_COMMANDS = ("drift", "anomalies", "rca", "performance", "findings", "reference", "analyze")

_Argument = tuple[tuple[str, ...], dict[str, Any]]
_WINDOW: _Argument = (("--window",), {"help": "how far back: 15m, 2h, 7d"})
_MODEL: _Argument = (("model",), {})
_OPTIONAL_MODEL: _Argument = (("model",), {"nargs": "?", "default": ""})
_MODEL_OPTION: _Argument = (("--model",), {"default": ""})
_LIMIT: _Argument = (("--limit",), {"type": int})
_VERSION: _Argument = (("--version",), {"default": "", "help": "model version (default: every version)"})
_STATUS: _Argument = (("--status",), {"choices": ("open", "resolved")})
_AT: _Argument = (("--at",), {"help": "evaluate as of this time (ISO 8601 or epoch)"})
# the arguments of each reading command, after --api-url and --json
READER_ARGUMENTS: dict[str, list[_Argument]] = {
    "models": [_WINDOW],
    "latency": [_OPTIONAL_MODEL, _WINDOW],
    "hotspots": [_OPTIONAL_MODEL, _WINDOW, _LIMIT],
    "predictions": [_OPTIONAL_MODEL, _LIMIT],
    "trace": [(("trace_id",), {})],
    "sql": [(("query",), {}), (("--param",), {"action": "append", "default": [], "metavar": "NAME=VALUE"})],
    "drift": [
        _MODEL, _VERSION, _WINDOW,
        (("--reference",), {"choices": ("auto", "upload", "window")}),
        (("--all",), {"action": "store_true", "help": "list every feature, not only drifted or odd ones"}),
        _AT,
    ],
    "performance": [_MODEL, _WINDOW],
    "reference": [
        _MODEL, _VERSION,
        (("file",), {"help": "CSV or Parquet; one column per feature"}),
        (("--outputs",), {"default": "", "help": "comma-separated columns that are model outputs"}),
    ],
    "anomalies": [_MODEL_OPTION, _STATUS],
    "findings": [_MODEL_OPTION, _WINDOW, (("--kind",), {"default": ""}), _STATUS],
    "analyze": [_MODEL_OPTION, _AT],
    "rca": [
        (("finding_id",), {"nargs": "?"}), _MODEL_OPTION,
        (("--operation",), {"help": "default: the model's busiest operation in the range"}),
        (("--start",), {}), (("--end",), {}),
        (("--kind",), {"choices": ("latency", "error_rate"), "default": "latency"}),
    ],
    "deadletters": [
        (("action",), {"choices": ("list", "export", "replay", "drop"), "nargs": "?", "default": "list"}),
        (("--cause",), {"help": "only the dead letters of this cause (e.g. TOO_MANY_PARTITIONS)"}),
        (("--id",), {"action": "append", "dest": "ids", "metavar": "ID", "help": "one dead letter (repeatable)"}),
        (("--all",), {"action": "store_true", "help": "replay or drop every dead letter"}),
        _LIMIT,
    ],
}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="modeltrace", description="modeltrace: ML model tracing and monitoring")
    parser.add_argument("--version", action="version", version=f"modeltrace {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    coll = sub.add_parser("collector", help="run and manage the collector")
    csub = coll.add_subparsers(dest="action", required=True)
    for name, text in (
        ("run", "receive OTLP, store in ClickHouse, serve the API"),
        ("migrate", "apply schema migrations and exit"),
        ("check-config", "validate the configuration and exit"),
    ):
        _collector_args(action := csub.add_parser(name, help=text))
        if name == "run":
            action.add_argument(
                "--insecure-no-auth", action="store_true",
                help="listen beyond loopback without API keys: anyone who reaches the ports may write and read",
            )  # fmt: skip

    keys = sub.add_parser("keys", help="API keys of this collector's data directory: create, list, revoke")
    ksub = keys.add_subparsers(dest="action", required=True)
    create = ksub.add_parser("create", help="make a key and print its token (shown once)")
    create.add_argument("--scope", action="append", required=True, choices=("ingest", "read", "admin"))
    create.add_argument("--name", required=True, help="who or what uses it, e.g. fraud-api")
    ksub.add_parser("list", help="the keys, without their tokens")
    revoke = ksub.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("key_id")
    for p in ksub.choices.values():
        p.add_argument("--config", "-c", help="TOML or YAML config file (for its data_dir)")
        p.add_argument("--data-dir", help="the collector's data directory")
        p.add_argument("--json", action="store_true", help="print JSON for scripts")

    api_help = f"collector API base URL (default $MODELTRACE_API_URL or {DEFAULT_API})"
    readers = {
        "models": "models and versions seen",
        "latency": "latency percentiles per model and version",
        "hotspots": "top profiled functions per model and version",
        "predictions": "recent predictions",
        "trace": "the spans of one trace",
        "sql": "run a read-only SQL query",
        "drift": "data drift per feature against the reference",
        "anomalies": "latency and error-rate anomalies",
        "rca": "root causes of an anomaly finding, of a model's newest open one, or of a model and time range",
        "performance": "accuracy/F1 or MAE/RMSE with ground truth, estimated accuracy without",
        "findings": "what the analysis found, open and resolved",
        "reference": "upload a baseline (CSV or Parquet) for drift",
        "analyze": "run the analysis now",
        "deadletters": "spans ClickHouse refused for good: list, export (OTLP/JSON lines), replay, drop",
    }
    for name, text in readers.items():
        p = sub.add_parser(name, help=text)
        p.add_argument("--api-url", default=os.environ.get("MODELTRACE_API_URL", DEFAULT_API), help=api_help)
        p.add_argument("--json", action="store_true", help="print JSON for scripts")
        for flags, options in READER_ARGUMENTS.get(name, ()):
            p.add_argument(*flags, **options)

    args = parser.parse_args(argv)
    if args.command == "collector":
        return _collector(args)
    if args.command == "keys":
        return _keys(args)
    return _read(args)


SECRET_KEYS = ("tokens", "headers")  # check-config does not print their values


def _keys(args: argparse.Namespace) -> int:
    from .auth import KeyStore, KeysUnreadable  # grpc, which it imports, is slow to load
    from .config import ConfigError, load

    try:
        config = load(args.config, overrides={"data_dir": args.data_dir} if args.data_dir else None)
    except ConfigError as exc:
        print(f"modeltrace: invalid configuration: {exc}", file=sys.stderr)
        return 2
    store = KeyStore(os.path.join(config.data_dir, "auth"))
    try:
        return _key_action(args, store)
    except KeysUnreadable as exc:
        print(f"modeltrace: {exc}: restore it from a backup, or move it away and create keys again", file=sys.stderr)
        return 1


def _key_action(args: argparse.Namespace, store: Any) -> int:
    if args.action == "create":
        key, token = store.create(args.name, args.scope)
        if args.json:
            print(json.dumps({"id": key.id, "name": key.name, "scopes": key.scopes, "token": token}))
        else:
            print(f"key {key.id} ({key.name}, {', '.join(key.scopes)}); its token, shown only now:")
            print(token)
        return 0
    if args.action == "revoke":
        try:
            key = store.revoke(args.key_id)
        except KeyError as exc:
            print(f"modeltrace: {exc.args[0]}", file=sys.stderr)
            return 1
        print(json.dumps({"revoked": key.id}) if args.json else f"revoked key {key.id} ({key.name})")
        if not store.load():
            print(
                "modeltrace: no key is left: a collector listening on loopback only now takes requests without a "
                "token (one listening beyond it refuses them all) unless auth.tokens are set",
                file=sys.stderr,
            )
        return 0
    rows = [{"id": k.id, "name": k.name, "scopes": ",".join(k.scopes), "created": k.created} for k in store.load()]
    if args.json:
        print(json.dumps(rows))
    else:
        print_table(rows, ["id", "name", "scopes", "created"])
    return 0


def _collector(args: argparse.Namespace) -> int:
    from .config import ConfigError

    try:
        config = _load_config(args)
    except ConfigError as exc:
        print(f"modeltrace: invalid configuration: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.general.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if args.action == "check-config":
        print("configuration is valid")
        for section, values in config.values.items():
            for key, value in values.items():
                shown = "(set, not shown)" if key in SECRET_KEYS and value else repr(value)
                print(f"  {section + '.' if section else ''}{key} = {shown}")
        return 0
    from .auth import Exposed
    from .service import Collector, make_store
    from .storage.client import StorageError

    try:
        if args.action == "migrate":
            store = make_store(config)
            applied = store.migrate()
            print("applied: " + ", ".join(applied) if applied else "schema is up to date")
            store.close()
            return 0
        Collector(config, insecure_no_auth=getattr(args, "insecure_no_auth", False)).run_forever()
    except Exposed as exc:
        print(f"modeltrace: refusing to start: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"modeltrace: storage unavailable: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"modeltrace: {exc}", file=sys.stderr)
        return 1
    return 0


def _read(args: argparse.Namespace) -> int:
    base = args.api_url
    if args.command == "models":
        data = api_get(base, "/api/models", {"window": args.window})
        rows, cols = data["models"], ["model", "version", "calls", "first_seen", "last_seen"]
    elif args.command == "latency":
        data = api_get(base, "/api/latency", {"model": args.model, "window": args.window})
        rows = data["latency"]
        cols = ["model", "version", "operation", "calls", "errors", "p50_ms", "p95_ms", "p99_ms"]
    elif args.command == "hotspots":
        data = api_get(base, "/api/hotspots", {"model": args.model, "window": args.window, "limit": args.limit})
        rows = data["hotspots"]
        cols = ["model", "version", "function", "file", "line", "profiled_calls", "self_ms_avg", "cum_ms_avg"]
    elif args.command == "predictions":
        data = api_get(base, "/api/predictions", {"model": args.model, "limit": args.limit})
        rows = data["predictions"]
        cols = ["time", "model", "version", "operation", "duration_ms", "rows", "status", "prediction_id"]
    elif args.command == "trace":
        data = api_get(base, f"/api/traces/{args.trace_id}", {})
        rows, cols = data["spans"], ["start", "name", "service", "duration_ms", "status", "span_id", "parent_span_id"]
    elif args.command == "deadletters":
        return _deadletters(args, base)
    elif args.command in ANALYSIS_COMMANDS:
        from .analysis_cli import run as analysis_run

        return analysis_run(args, base)
    else:
        params = dict(p.split("=", 1) for p in args.param if "=" in p)
        data = api_post(base, "/api/sql", {}, {"query": args.query, "parameters": params})
        rows = [dict(zip(data["columns"], r)) for r in data["rows"]]
        cols = data["columns"]
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print_table(rows, cols)
        if data.get("truncated"):
            print(f"({data.get('message') or 'result truncated'})", file=sys.stderr)
    return 0


def _deadletters(args: argparse.Namespace, base: str) -> int:
    if args.action == "list":
        data = api_get(base, "/api/deadletters", {"cause": args.cause, "limit": args.limit})
        if args.json:
            print(json.dumps(data, indent=2, default=str))
            return 0
        held = ", ".join(f"{cause}: {n}" for cause, n in sorted(data["by_cause"].items())) or "none"
        print(f"{data['total']} dead letter(s) held ({held}); {data['dropped']} dropped over the size bound")
        print_table(data["entries"], ["id", "time_ms", "cause", "service", "span_name", "trace_id", "replayable"])
        return 0
    if args.action == "export":
        offset: int | None = 0
        while offset is not None:
            data = api_get(base, "/api/deadletters/export", {"cause": args.cause, "offset": offset})
            for entry in data["entries"]:
                print(json.dumps(entry, separators=(",", ":"), default=str))
            offset = data["next_offset"]
        return 0
    if not (args.ids or args.cause or args.all):
        raise SystemExit(f"modeltrace: deadletters {args.action} needs --id, --cause or --all")
    body: dict[str, Any] = {"ids": args.ids} if args.ids else {"cause": args.cause} if args.cause else {"all": True}
    data = api_post(base, f"/api/deadletters/{args.action}", {}, body)
    if args.json:
        print(json.dumps(data, indent=2, default=str))
    elif args.action == "drop":
        print(f"dropped {data['dropped']} dead letter(s)")
    else:
        print(f"replayed {data['replayed']} of {data['matched']} dead letter(s)")
        for kept in data["kept"]:
            print(f"  kept {kept['id']}: {kept['reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
