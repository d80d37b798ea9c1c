"""``modeltrace.configure``: where spans go, set up once, reusing what the process has."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from . import state

logger = logging.getLogger("modeltrace")

PROTOCOLS = ("grpc", "http/protobuf")
_lock = threading.Lock()
_processors: list[ForkSafeProcessor] = []
_owned_provider: TracerProvider | None = None
_owned_processor: ForkSafeProcessor | None = None
_atexit_registered = False


class ForkSafeProcessor(SpanProcessor):
    """A batch processor that a forked worker rebuilds instead of inheriting.

    A gRPC channel or HTTP session inherited across ``fork()`` is not safe to use, and the
    parent's queued spans must not be sent twice, so the child starts a fresh exporter.
    """

    def __init__(self, make_exporter: Callable[[], SpanExporter]) -> None:
        self._make_exporter = make_exporter
        self._pid = os.getpid()
        self._inner = BatchSpanProcessor(make_exporter())

    def _current(self) -> BatchSpanProcessor:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._inner = BatchSpanProcessor(self._make_exporter())
        return self._inner

    def swap(self, make_exporter: Callable[[], SpanExporter]) -> None:
        """Send from now on to a new exporter; what the old one holds is flushed first."""
        old = self._current()
        self._make_exporter = make_exporter
        self._inner = BatchSpanProcessor(make_exporter())
        old.shutdown()  # type: ignore[no-untyped-call]

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        self._current().on_end(span)

    def shutdown(self) -> None:
        self._current().shutdown()  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._current().force_flush(timeout_millis)


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def _parse_headers(value: str | Mapping[str, str] | None) -> dict[str, str] | None:
    if value is None or isinstance(value, Mapping):
        return dict(value) if value is not None else None
    headers: dict[str, str] = {}
    for part in value.split(","):
        if "=" in part:
            k, v = part.split("=", 1)
            headers[k.strip()] = v.strip()
    return headers


def make_exporter(
    protocol: str, endpoint: str | None, headers: Mapping[str, str] | None, timeout: float | None
) -> SpanExporter:
    """An OTLP exporter; unset arguments fall back to the ``OTEL_EXPORTER_OTLP_*`` variables."""
    kwargs: dict[str, Any] = {}
    if headers is not None:
        kwargs["headers"] = dict(headers)
    if timeout is not None:
        kwargs["timeout"] = timeout
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        if endpoint is not None:
            kwargs["endpoint"] = endpoint
            kwargs["insecure"] = endpoint.startswith("http://") or "://" not in endpoint
        return GrpcExporter(**kwargs)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is not None:
        kwargs["endpoint"] = (
            endpoint if endpoint.rstrip("/").endswith("/v1/traces") else endpoint.rstrip("/") + "/v1/traces"
        )
    return HttpExporter(**kwargs)


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: str | Mapping[str, str] | None = None,
    sample_rate: float | None = None,
    resource_attributes: Mapping[str, Any] | None = None,
    exporter: SpanExporter | None = None,
    timeout: float | None = None,
) -> TracerProvider | trace.TracerProvider:
    """Send modeltrace spans over OTLP.

    If the process already has an OpenTelemetry TracerProvider, it is reused: spans join
    the traces and exporters the application set up, and an exporter is added only when
    ``endpoint`` or ``exporter`` is given. Otherwise a provider is created and installed
    globally. Arguments left unset fall back to the standard ``OTEL_*`` variables
    (``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT``/``PROTOCOL``/``HEADERS``,
    ``OTEL_TRACES_SAMPLER``, ``OTEL_RESOURCE_ATTRIBUTES``). Spans are flushed at exit.
    """
    global _owned_provider, _owned_processor, _atexit_registered
    proto = _protocol(protocol)
    if sample_rate is not None and not 0.0 <= sample_rate <= 1.0:
        raise ValueError(f"sample_rate must be between 0 and 1, not {sample_rate!r}")
    parsed_headers = _parse_headers(headers)
    with _lock:
        current = trace.get_tracer_provider()
        reuse = not isinstance(current, trace.ProxyTracerProvider) and current is not _owned_provider
        if reuse and isinstance(current, TracerProvider):
            provider: Any = current
            if endpoint is not None or exporter is not None:
                _add_exporter(provider, exporter, proto, endpoint, parsed_headers, timeout)
            elif service_name is not None:
                logger.info("modeltrace: reusing the application's TracerProvider; its resource keeps its service name")
        elif reuse:
            provider = current
            logger.warning("modeltrace: the global TracerProvider is not the OpenTelemetry SDK's; spans go to it as is")
        elif _owned_provider is not None and _owned_processor is not None:
            # Called again: the provider (and so the resource and sampler) stays, the exporter changes.
            provider = _owned_provider
            if service_name is not None or resource_attributes is not None or sample_rate is not None:
                logger.warning(
                    "modeltrace: service name, resource attributes and sample rate are set by the first "
                    "configure() of a process; this call changes only where spans are sent"
                )
            _owned_processor.swap(_exporter_factory(exporter, proto, endpoint, parsed_headers, timeout))
        else:
            attrs: dict[str, Any] = dict(resource_attributes or {})
            name = service_name or _env("OTEL_SERVICE_NAME")
            if name:
                attrs[SERVICE_NAME] = name
            sampler = ParentBased(TraceIdRatioBased(sample_rate)) if sample_rate is not None else None
            provider = TracerProvider(resource=Resource.create(attrs), sampler=sampler, shutdown_on_exit=False)
            _owned_processor = _add_exporter(provider, exporter, proto, endpoint, parsed_headers, timeout)
            if isinstance(current, trace.ProxyTracerProvider):
                trace.set_tracer_provider(provider)
            _owned_provider = provider
        state.set_provider(provider)
        if not _atexit_registered:
            atexit.register(_at_exit)
            _atexit_registered = True
    return provider  # type: ignore[no-any-return]


def _protocol(protocol: str | None) -> str:
    """The OTLP protocol asked for, else the one of the OTEL_* variables, else http/protobuf."""
    proto = (
        protocol or _env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or _env("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    )
    if proto == "http":
        proto = "http/protobuf"
    if proto not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {proto!r}")
    return proto


def _exporter_factory(
    exporter: SpanExporter | None,
    protocol: str,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
) -> Callable[[], SpanExporter]:
    if exporter is not None:
        return lambda: exporter  # the caller's own exporter: a forked worker keeps using it
    return lambda: make_exporter(protocol, endpoint, headers, timeout)


def _add_exporter(
    provider: TracerProvider,
    exporter: SpanExporter | None,
    protocol: str,
    endpoint: str | None,
    headers: Mapping[str, str] | None,
    timeout: float | None,
) -> ForkSafeProcessor:
    processor = ForkSafeProcessor(_exporter_factory(exporter, protocol, endpoint, headers, timeout))
    _processors.append(processor)
    provider.add_span_processor(processor)
    return processor


def flush(timeout_millis: int = 30000) -> bool:
    """Export every span ended so far; True when all were exported in time."""
    provider = state.provider()
    force_flush = getattr(provider, "force_flush", None)
    return bool(force_flush(timeout_millis)) if force_flush is not None else True


def shutdown() -> None:
    """Flush and stop the exporters modeltrace started (a later ``configure()`` starts new ones)."""
    with _lock:
        if _owned_provider is not None:
            _owned_provider.shutdown()
        for processor in _processors:
            if processor is not _owned_processor:
                processor.shutdown()
        _processors[:] = [p for p in _processors if p is _owned_processor]
        state.set_provider(None)


def _at_exit() -> None:
    try:
        flush(5000)
        shutdown()
    except Exception:
        logger.debug("modeltrace: flush at exit failed", exc_info=True)
