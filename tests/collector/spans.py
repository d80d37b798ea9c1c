"""Real modeltrace spans, encoded as OTLP requests, for collector tests."""

from __future__ import annotations

import numpy as np
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import modeltrace
from modeltrace._internal import state


def make_requests(
    n_requests: int, spans_per_request: int, service: str = "fraud-api", seed: int = 0, features: int = 5
) -> list[bytes]:
    """Encoded ExportTraceServiceRequests of ``spans_per_request`` one-row predict spans each."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "host.name": "web-1"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = state._provider
    state.set_provider(provider)
    try:

        @modeltrace.trace_model(name="fraud", version="2", framework="sklearn", profile_rate=0, profile_after_slow=0)
        def predict(x):
            return (x[:, 0] > 0).astype(int)

        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n_requests):
            exporter.clear()
            for _ in range(spans_per_request):
                predict(rng.standard_normal((1, features)))
            out.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
        return out
    finally:
        state.set_provider(previous)
        provider.shutdown()


def make_varied_requests(n_requests: int, calls_per_request: int, seed: int = 0) -> list[bytes]:
    """Requests holding every kind of row the views derive: profiled predict calls (samples and
    hotspots), failed calls (every fifth) and, for each call that returned, ground truth."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "churn-api", "host.name": "web-2"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous = state._provider
    state.set_provider(provider)
    try:

        @modeltrace.trace_model(name="churn", version="3", framework="sklearn", profile_rate=1.0, profile_after_slow=0)
        def predict(x):
            if x[0, 0] > 100:
                raise ValueError("out of range")
            return np.sort(x, axis=1)[:, :1]

        rng = np.random.default_rng(seed)
        out = []
        for _ in range(n_requests):
            exporter.clear()
            for i in range(calls_per_request):
                x = rng.standard_normal((2, 3)) + (1000 if i % 5 == 4 else 0)
                try:
                    predict(x)
                except ValueError:
                    pass
            for span in list(exporter.get_finished_spans()):
                if span.status.is_ok:
                    modeltrace.log_actual(span.attributes["ml.prediction.id"], [0.5, -0.5], model="churn", version="3")
            out.append(encode_spans(exporter.get_finished_spans()).SerializeToString())
        return out
    finally:
        state.set_provider(previous)
        provider.shutdown()
