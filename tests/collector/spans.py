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
