"""Collector configuration: defaults, then a TOML or YAML file, then environment, then flags.

Every key is declared once in ``SCHEMA``; anything else is an error that names the key.
Environment variables are ``MODELTRACE_<SECTION>_<KEY>`` (``MODELTRACE_STORAGE_DSN``).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, from PyPI, before Python 3.11 (requires-python is 3.10)
    import tomli as tomllib


class ConfigError(ValueError):
    """A configuration value is missing, unknown or invalid; the message names the key."""


def _listen(value: Any) -> str:
    text = str(value)
    if text == "":
        return text  # disabled
    _, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"expected host:port, got {text!r}")
    return text


def _tokens(value: Any) -> str:
    from .auth import parse_tokens

    text = str(value)
    parse_tokens(text, "entries")
    return text


def _file(value: Any) -> str:
    text = str(value)
    if text and not os.path.isfile(text):
        raise ValueError(f"no such file: {text!r}")
    return text


def _positive(kind: type) -> Any:
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        v = kind(value)
        if not 0 < v < math.inf:  # refuses nan and inf as well
            raise ValueError(f"must be > 0, got {value!r}")
        return v

    return check


def _non_negative(value: Any) -> float:
    v = float(value)
    if v < 0:
        raise ValueError(f"must be >= 0, got {value!r}")
    return v


def _choice(*options: str) -> Any:
    def check(value: Any) -> str:
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got {value!r}")
        return str(value)

    return check


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _url(value: Any) -> str:
    text = str(value)
    if text and not text.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s):// URL, got {text!r}")
    return text


def _endpoint(value: Any) -> str:
    """An OTLP/gRPC target: host:port, http://host:port (plaintext) or https://host:port (TLS)."""
    text = str(value)
    if text:
        _listen(text.removeprefix("http://").removeprefix("https://").rstrip("/"))
    return text.rstrip("/")


def _headers(value: Any) -> dict[str, str]:
    """Headers as a table, or "k1=v1,k2=v2" as in OTEL_EXPORTER_OTLP_HEADERS."""
    if isinstance(value, str):
        pairs = [p for p in value.split(",") if p.strip()]
        value = {}
        for p in pairs:
            k, sep, v = p.partition("=")
            if not sep or not k.strip():
                raise ValueError(f"expected key=value pairs, got {p!r}")
            value[k.strip()] = v.strip()
    if not isinstance(value, Mapping):
        raise ValueError("expected a table of header = value")
    return {str(k): str(v) for k, v in value.items()}


def _identifier(value: Any) -> str:
    text = str(value)
    if not text.replace("_", "a").isalnum() or text[0].isdigit():
        raise ValueError(f"must be a plain identifier, got {text!r}")
    return text


def _fraction(value: Any) -> float:
    v = float(value)
    if not 0 < v <= 1:
        raise ValueError(f"must be in (0, 1], got {value!r}")
    return v


_TESTS = ("ks", "wasserstein", "psi", "js", "chisquare")


def _thresholds(value: Any) -> dict[str, dict[str, Any]]:
    """``{"model": {...}, "model/feature": {"test": "psi", "threshold": 0.2}}``"""
    if isinstance(value, str):  # from the environment or a flag: JSON
        import json

        try:
            value = json.loads(value or "{}")
        except ValueError as exc:
            raise ValueError(f"expected JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise ValueError("expected a table of 'model' or 'model/feature' = {test = ..., threshold = ...}")
    out: dict[str, dict[str, Any]] = {}
    for key, rule in value.items():
        if not isinstance(rule, Mapping):
            raise ValueError(f"{key!r}: expected a table with test and/or threshold")
        unknown = set(rule) - {"test", "threshold"}
        if unknown:
            raise ValueError(f"{key!r}: unknown field(s) {', '.join(sorted(unknown))} (allowed: test, threshold)")
        entry: dict[str, Any] = {}
        if "test" in rule:
            if rule["test"] not in _TESTS:
                raise ValueError(f"{key!r}: test must be one of {', '.join(_TESTS)}, got {rule['test']!r}")
            entry["test"] = rule["test"]
        if "threshold" in rule:
            entry["threshold"] = _positive(float)(rule["threshold"])
        out[str(key)] = entry
    return out


def setting(check: Callable[[Any], Any], default: Any = None, *, factory: Callable[[], Any] | None = None) -> Any:
    """A setting of a section: its default, declared here once, and the check a value from a
    file, the environment or a flag goes through."""
    if factory is not None:
        return field(default_factory=factory, metadata={"check": check})
    return field(default=default, metadata={"check": check})


@dataclass(frozen=True)
class _TlsListener:
    """Every section that owns listeners takes these: a server certificate and key (PEM), and a
    CA whose certificates clients must present (mTLS); see net/listener.py."""

    tls_cert_file: str = setting(_file, "")
    tls_key_file: str = setting(_file, "")
    tls_client_ca_file: str = setting(_file, "")


@dataclass(frozen=True)
class General:
    """Settings outside any section."""

    data_dir: str = setting(str, "modeltrace-data")
    log_level: str = setting(_choice("debug", "info", "warning", "error"), "info")


@dataclass(frozen=True)
class StorageSettings:
    """[storage]"""

    dsn: str = setting(str, "chdb://")
    database: str = setting(_identifier, "modeltrace")
    ttl_days: float = setting(_non_negative, 0.0)
    cluster: str = setting(str, "")
    embedded_memory_mb: float = setting(_non_negative, 0.0)


@dataclass(frozen=True)
class SpoolSettings:
    """[spool]"""

    dir: str = setting(str, "")
    max_bytes: int = setting(_positive(int), 1 << 30)
    segment_bytes: int = setting(_positive(int), 64 << 20)
    fsync: str = setting(_choice("always", "batch", "never"), "batch")


@dataclass(frozen=True)
class ReceiverSettings(_TlsListener):
    """[receivers]"""

    grpc: str = setting(_listen, "127.0.0.1:4317")
    http: str = setting(_listen, "127.0.0.1:4318")
    max_request_bytes: int = setting(_positive(int), 64 << 20)
    # an ml.* attribute the views parse as JSON beyond this is kept under <key>.oversize, unparsed
    max_ml_json_bytes: int = setting(_positive(int), 1 << 20)
    # spans starting further ahead of this collector's clock are refused (0: up to 2106)
    max_future_seconds: float = setting(_non_negative, 86400.0)
    # OTLP/HTTP: a connection silent this long is closed (a body must also keep arriving)
    read_timeout_seconds: float = setting(_positive(float), 30.0)


@dataclass(frozen=True)
class WriterSettings:
    """[writer]"""

    batch_spans: int = setting(_positive(int), 50_000)
    max_delay_seconds: float = setting(_positive(float), 1.0)
    # /ready turns false when one batch has failed for this long
    stuck_seconds: float = setting(_positive(float), 60.0)


@dataclass(frozen=True)
class DeadLetterSettings:
    """[deadletter]"""

    # spans ClickHouse refused for good, under data_dir/deadletter; oldest dropped beyond this
    max_bytes: int = setting(_positive(int), 256 << 20)
    # /ready turns false for this long after a dead letter arrives (0: never)
    unready_seconds: float = setting(_non_negative, 300.0)


@dataclass(frozen=True)
class AnalysisSettings:
    """[analysis]"""

    enabled: bool = setting(_bool, True)
    interval_seconds: float = setting(_positive(float), 60.0)
    webhook_url: str = setting(_url, "")
    webhook_timeout_seconds: float = setting(_positive(float), 5.0)


@dataclass(frozen=True)
class DriftConfig:
    """[drift]"""

    window_seconds: float = setting(_positive(float), 3600.0)
    reference: str = setting(_choice("auto", "upload", "window"), "auto")
    reference_window_seconds: float = setting(_positive(float), 86400.0)
    min_samples: int = setting(_positive(int), 30)
    min_calls: int = setting(_positive(int), 30)
    # how the inputs move together (PCA reconstruction error), checked at most this often per version
    multivariate_every_seconds: float = setting(_positive(float), 600.0)
    drift_share: float = setting(_fraction, 0.5)
    significance: float = setting(_fraction, 0.01)
    thresholds: Mapping[str, Any] = setting(_thresholds, factory=dict)


@dataclass(frozen=True)
class AnomalyConfig:
    """[anomaly]"""

    baseline_seconds: float = setting(_positive(float), 6 * 3600.0)
    evaluate_seconds: float = setting(_positive(float), 2 * 3600.0)
    min_calls: int = setting(_positive(int), 5)
    min_history_minutes: int = setting(_positive(int), 30)
    z_open: float = setting(_positive(float), 5.0)
    z_close: float = setting(_positive(float), 2.5)
    open_after_minutes: int = setting(_positive(int), 2)
    close_after_minutes: int = setting(_positive(int), 5)
    min_relative: float = setting(_positive(float), 0.2)
    season_days: int = setting(_positive(int), 7)
    error_window_minutes: int = setting(_positive(int), 3)
    rca_baseline_seconds: float = setting(_positive(float), 3600.0)
    # root causes are sought in an episode's first minutes (and a rise's), then kept
    rca_window_seconds: float = setting(_positive(float), 900.0)
    # a latency level (or a traffic level) that holds this long is accepted as the new normal
    accept_after_seconds: float = setting(_positive(float), 3 * 3600.0)
    # one minute this far out (and spike_min_ratio times the baseline) is reported at once
    spike_z: float = setting(_positive(float), 10.0)
    spike_min_ratio: float = setting(_positive(float), 2.0)
    # calls per minute this far below the usual (as a share) are a traffic drop
    traffic_drop: float = setting(_fraction, 0.5)


@dataclass(frozen=True)
class PerformanceConfig:
    """[performance]"""

    # predictions of the last window_seconds (those with ground truth) against the
    # reference_seconds before them
    window_seconds: float = setting(_positive(float), 3600.0)
    reference_seconds: float = setting(_positive(float), 86400.0)
    min_calls: int = setting(_positive(int), 50)
    # a drop worth a finding: accuracy down this much (absolute), or the mean absolute error up
    # by this share, and beyond chance at this significance
    min_drop: float = setting(_fraction, 0.05)
    min_relative: float = setting(_positive(float), 0.2)
    significance: float = setting(_fraction, 1e-4)


@dataclass(frozen=True)
class JaegerSettings(_TlsListener):
    """[jaeger]"""

    # Jaeger v2 remote storage (jaeger.storage.v2 TraceReader/DependencyReader); empty: off
    grpc: str = setting(_listen, "127.0.0.1:17271")
    max_trace_spans: int = setting(_positive(int), 10_000)


@dataclass(frozen=True)
class ForwardSettings:
    """[forward]"""

    # another OTLP/gRPC endpoint that gets a copy of every accepted request; empty: off
    endpoint: str = setting(_endpoint, "")
    headers: Mapping[str, Any] = setting(_headers, factory=dict)
    max_queue_bytes: int = setting(_positive(int), 64 << 20)
    timeout_seconds: float = setting(_positive(float), 10.0)
    # for an https:// endpoint: the CA to trust (default: the system's), a client certificate (mTLS)
    tls_ca_file: str = setting(_file, "")
    tls_client_cert_file: str = setting(_file, "")
    tls_client_key_file: str = setting(_file, "")


@dataclass(frozen=True)
class AuthSettings:
    """[auth]"""

    # SCOPE[+SCOPE]:TOKEN entries (ingest, read, admin) besides the keys of `modeltrace keys`
    tokens: str = setting(_tokens, "")
    tokens_file: str = setting(_file, "")


@dataclass(frozen=True)
class ApiSettings(_TlsListener):
    """[api]"""

    listen: str = setting(_listen, "127.0.0.1:8080")
    # user SQL (/api/sql): every query runs with these caps; see README "SQL"
    sql_max_rows: int = setting(_positive(int), 10_000)
    sql_max_seconds: float = setting(_positive(float), 10.0)
    sql_max_memory_mb: float = setting(_positive(float), 512.0)
    sql_max_response_bytes: int = setting(_positive(int), 32 << 20)
    sql_max_rows_to_read: int = setting(_positive(int), 1_000_000_000)
    sql_max_bytes_to_read: int = setting(_positive(int), 100 << 30)
    sql_max_threads: int = setting(_positive(int), 2)
    sql_max_concurrent: int = setting(_positive(int), 2)
    # a ClickHouse server DSN for user SQL only (a read-only user); empty: storage.dsn
    sql_dsn: str = setting(_url, "")
    # a reference upload is parsed in memory (several times its size): larger ones go per feature
    max_reference_bytes: int = setting(_positive(int), 32 << 20)
    read_timeout_seconds: float = setting(_positive(float), 30.0)
    # the web UI at / (its files; the data comes from the API routes, under the read scope)
    ui: bool = setting(_bool, True)
    # a Jaeger UI (https://jaeger.example.com) the web UI's trace view links to; empty: no link
    jaeger_ui_url: str = setting(_url, "")


# The sections by name ("" holds the settings outside any section).
SECTIONS: dict[str, type] = {
    "": General,
    "storage": StorageSettings,
    "spool": SpoolSettings,
    "receivers": ReceiverSettings,
    "writer": WriterSettings,
    "deadletter": DeadLetterSettings,
    "analysis": AnalysisSettings,
    "drift": DriftConfig,
    "anomaly": AnomalyConfig,
    "performance": PerformanceConfig,
    "jaeger": JaegerSettings,
    "forward": ForwardSettings,
    "auth": AuthSettings,
    "api": ApiSettings,
}


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default


# Every key, its check and its default: what load() validates against.
SCHEMA: dict[str, dict[str, tuple[Any, Any]]] = {
    name: {f.name: (f.metadata["check"], _default(f)) for f in fields(cls)} for name, cls in SECTIONS.items()
}


@dataclass(frozen=True)
class Config:
    """The loaded settings: ``values`` by section name (what ``check-config`` walks), and each
    section typed, built once from them (``config.writer.batch_spans``)."""

    values: Mapping[str, Mapping[str, Any]]
    general: General = field(init=False)
    storage: StorageSettings = field(init=False)
    spool: SpoolSettings = field(init=False)
    receivers: ReceiverSettings = field(init=False)
    writer: WriterSettings = field(init=False)
    deadletter: DeadLetterSettings = field(init=False)
    analysis: AnalysisSettings = field(init=False)
    drift: DriftConfig = field(init=False)
    anomaly: AnomalyConfig = field(init=False)
    performance: PerformanceConfig = field(init=False)
    jaeger: JaegerSettings = field(init=False)
    forward: ForwardSettings = field(init=False)
    auth: AuthSettings = field(init=False)
    api: ApiSettings = field(init=False)

    def __post_init__(self) -> None:
        for name, cls in SECTIONS.items():
            object.__setattr__(self, name or "general", cls(**self.values[name]))

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]

    @property
    def data_dir(self) -> str:
        return str(self.values[""]["data_dir"])

    @property
    def spool_dir(self) -> str:
        return str(self.values["spool"]["dir"] or os.path.join(self.data_dir, "spool"))


def _parse_file(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(raw.decode("utf-8")) or {}
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except Exception as exc:
        raise ConfigError(
            f"{path} is not valid {'YAML' if path.endswith(('.yaml', '.yml')) else 'TOML'}: {exc}"
        ) from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a table of settings")
    return data


def _flatten(data: Mapping[str, Any], origin: str) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for key, value in data.items():
        if key in SCHEMA and key != "" and isinstance(value, Mapping):
            for sub, v in value.items():
                out[(key, str(sub))] = v
        elif key in SCHEMA and key != "":
            raise ConfigError(f"{origin}: [{key}] must be a section of settings")
        else:
            out[("", str(key))] = value
    return out


# Variables of the CLI, the SDK and the demo, not settings: a shell that exports them for the
# CLI still starts a collector.
CLIENT_VARIABLES = frozenset(
    "MODELTRACE_" + name
    for name in (
        "RAISE_INTERNAL_ERRORS", "API_URL", "TOKEN", "CA_FILE", "CLIENT_CERT_FILE", "CLIENT_KEY_FILE", "DEMO_EXIT",
    )
)  # fmt: skip


def _from_env(environ: Mapping[str, str]) -> dict[tuple[str, str], Any]:
    out: dict[tuple[str, str], Any] = {}
    for name, value in environ.items():
        if not name.startswith("MODELTRACE_") or name in CLIENT_VARIABLES:
            continue
        rest = name[len("MODELTRACE_") :].lower()
        for section in SCHEMA:
            if section and rest.startswith(section + "_"):
                out[(section, rest[len(section) + 1 :])] = value
                break
        else:
            out[("", rest)] = value
    return out


def load(
    path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Merge the sources (file < environment < ``overrides`` as ``"section.key"``) and validate."""
    layers: list[tuple[str, dict[tuple[str, str], Any]]] = []
    if path:
        layers.append((path, _flatten(_parse_file(path), path)))
    layers.append(("environment", _from_env(os.environ if environ is None else environ)))
    if overrides:
        flags: dict[tuple[str, str], Any] = {}
        for dotted, value in overrides.items():
            section, _, key = dotted.rpartition(".")
            flags[(section, key)] = value
        layers.append(("flags", flags))
    values: dict[str, dict[str, Any]] = {s: {k: d for k, (_, d) in keys.items()} for s, keys in SCHEMA.items()}
    for origin, layer in layers:
        for (section, key), raw in layer.items():
            name = f"{section}.{key}" if section else key
            if section not in SCHEMA or key not in SCHEMA[section]:
                raise ConfigError(f"{origin}: unknown setting {name!r}")
            check, _ = SCHEMA[section][key]
            try:
                values[section][key] = check(raw)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"{origin}: {name}: {exc}") from exc
    for section, keys in SCHEMA.items():
        if "tls_cert_file" in keys:
            _check_tls(section, values[section])
    return Config(values)


def _check_tls(section: str, values: Mapping[str, Any]) -> None:
    cert, key, client_ca = values["tls_cert_file"], values["tls_key_file"], values["tls_client_ca_file"]
    if bool(cert) != bool(key):
        raise ConfigError(f"{section}.tls_cert_file and {section}.tls_key_file go together: set both or neither")
    if client_ca and not cert:
        raise ConfigError(f"{section}.tls_client_ca_file needs {section}.tls_cert_file and tls_key_file: mTLS is TLS")
