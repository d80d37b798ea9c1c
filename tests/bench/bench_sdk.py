"""Per-call cost of modeltrace against a bare call, a bare OTel span and peer tracers.

Run with ``make bench``. Prints the median per-call microseconds of each case (gc on,
spans exported by a BatchSpanProcessor to an exporter that drops them) and ratios,
all in one run so the figures are comparable.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

import modeltrace
from modeltrace._internal import state


class DropExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def per_call_us(fn: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean per-call time of ``calls`` calls, in microseconds."""
    for _ in range(min(calls, 200)):
        fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - t0) / calls * 1e6)
    return statistics.median(samples)


def busy_ms(ms: float) -> Callable[[Any], Any]:
    """A 'model' that spends ``ms`` of numpy-heavy CPU per call, like a small predict."""
    w = np.random.default_rng(0).standard_normal((20, 64))

    def predict(x: Any) -> Any:
        deadline = time.perf_counter() + ms / 1000.0
        out = None
        while time.perf_counter() < deadline:
            out = np.tanh(np.asarray(x) @ w).sum(axis=1)
        return out

    return predict


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer calls, for a smoke run")
    args = parser.parse_args()
    calls, repeats = (200, 3) if args.quick else (args.calls, args.repeats)
    gc.enable()

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
    state.set_provider(provider)
    tracer = provider.get_tracer("bench")

    rng = np.random.default_rng(1)
    row = rng.standard_normal((1, 20))
    batch = rng.standard_normal((256, 20))
    import pandas as pd

    frame = pd.DataFrame(batch, columns=[f"f{i}" for i in range(20)])

    predictions = rng.random(256)

    def model(x: Any) -> Any:
        return predictions[: len(x)]  # one score per row, at no cost

    def bare_call() -> Any:
        return model(row)

    traced = modeltrace.trace_model(name="bench", version="1", framework="numpy", profile_rate=0, profile_after_slow=0)(
        model
    )

    # The same attribute count as modeltrace sets on a one-row call, as constant strings.
    n_attrs = _attribute_count(traced, row)
    fixed = {f"attr.{i}": "value" for i in range(n_attrs // 2)}
    dynamic = {f"attr.{i}": "value" for i in range(n_attrs // 2, n_attrs)}

    def bare_span() -> Any:
        with tracer.start_as_current_span("predict bench", attributes=fixed) as span:
            result = model(row)
            span.set_attributes(dynamic)
        return result

    rows: list[tuple[str, float, str]] = []

    def add(label: str, fn: Callable[[], Any], note: str = "") -> float:
        us = per_call_us(fn, calls, repeats)
        rows.append((label, us, note))
        return us

    bare = add("bare call (1x20 row)", bare_call)
    otel = add(f"bare OTel span, {n_attrs} attributes", bare_span)
    one = add("modeltrace, 1x20 numpy row", lambda: traced(row))
    lean = {"name": "bench", "version": "1", "framework": "numpy", "profile_rate": 0, "profile_after_slow": 0}
    stats_only = modeltrace.trace_model(capture="stats", **lean)(model)
    no_values = modeltrace.trace_model(capture="none", **lean)(model)
    one_stats = add("modeltrace, 1x20 row, capture='stats'", lambda: stats_only(row))
    one_none = add("modeltrace, 1x20 row, capture='none'", lambda: no_values(row))
    tenth = modeltrace.trace_model(capture_rate=0.1, **lean)(model)
    one_tenth = add("modeltrace, 1x20 row, capture_rate=0.1", lambda: tenth(row))
    add("bare call (256x20 batch)", lambda: model(batch))
    b256 = add("modeltrace, 256x20 numpy batch", lambda: traced(batch))
    full = modeltrace.trace_model(
        name="bench", version="1", framework="numpy", profile_rate=0, profile_after_slow=0, sample_values=None
    )(model)
    b256_full = add("modeltrace, 256x20 batch, all 32 rows sampled", lambda: full(batch))
    df = add("modeltrace, 256x20 DataFrame", lambda: traced(frame))

    # Profiling cost on a 1 ms predict, default rate and every call.
    slow = busy_ms(1.0)
    plain_slow = add("bare 1 ms predict", lambda: slow(row))
    t_off = modeltrace.trace_model(name="p0", profile_rate=0, profile_after_slow=0)(slow)
    t_def = modeltrace.trace_model(name="p1")(slow)
    t_all = modeltrace.trace_model(name="p100", profile_rate=1.0)(slow)
    prof_off = add("modeltrace, 1 ms predict, profiling off", lambda: t_off(row))
    prof_def = add("modeltrace, 1 ms predict, profile_rate=0.01", lambda: t_def(row))
    prof_all = add("modeltrace, 1 ms predict, profile_rate=1.0", lambda: t_all(row))

    peers = _peer_cases(model, row, batch, calls, repeats, rows)

    width = max(len(r[0]) for r in rows)
    print(f"\n{'case':<{width}}  {'us/call':>10}")
    for label, us, note in rows:
        print(f"{label:<{width}}  {us:>10.1f}  {note}")
    print("\nratios")
    print(f"  1x20 row vs bare OTel span (target <= 1.30x):           {one / otel:6.2f}x")
    print(f"  1x20 row, capture='stats' vs bare OTel span:             {one_stats / otel:6.2f}x")
    print(f"  1x20 row, capture='none' vs bare OTel span:              {one_none / otel:6.2f}x")
    print(f"  1x20 row, capture_rate=0.1 vs bare OTel span:            {one_tenth / otel:6.2f}x")
    print(f"  256x20 batch, added over bare call (target <= 100 us):   {b256 - bare:6.1f} us")
    print(f"  256x20 batch, sample_values=None (32 full rows):         {b256_full - bare:6.1f} us")
    print(f"  256x20 DataFrame, added over bare call:                  {df - bare:6.1f} us")
    print(f"  default profiling on a 1 ms predict (target <= 3%):      {100 * (prof_def / prof_off - 1):+6.2f} %")
    print(f"  profiling every call on a 1 ms predict:                  {100 * (prof_all / prof_off - 1):+6.2f} %")
    print(f"  modeltrace overhead on a 1 ms predict:                   {100 * (prof_off / plain_slow - 1):+6.2f} %")
    for label, (peer_row, peer_batch) in peers.items():
        target = " (target >= 10x)" if label == "mlflow" else ""
        print(f"  {label + ' / modeltrace, 1x20 row' + target + ':':<58}{peer_row / one:6.1f}x")
        print(f"  {label + ' / modeltrace, 256x20 batch' + target + ':':<58}{peer_batch / b256:6.1f}x")
    if not peers:
        print("  peers: install the bench extra (pip install -e '.[bench]') for mlflow and OpenInference")
    provider.shutdown()
    return 0


def _attribute_count(traced: Callable[[Any], Any], row: Any) -> int:
    from modeltrace.testing import capture_spans

    previous = state._provider
    with capture_spans() as spans:
        traced(row)
    state.set_provider(previous)
    return len(spans.spans()[0].attributes or {})


def _peer_cases(
    model: Callable[[Any], Any], row: Any, batch: Any, calls: int, repeats: int, rows: list[tuple[str, float, str]]
) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    peer_calls = max(50, calls // 10)
    try:
        import mlflow

        mlflow.tracing.disable_notebook_display() if hasattr(mlflow.tracing, "disable_notebook_display") else None
        ml = mlflow.trace(model, name="predict")
        r = per_call_us(lambda: ml(row), peer_calls, repeats)
        b = per_call_us(lambda: ml(batch), peer_calls, repeats)
        rows.append(("@mlflow.trace, 1x20 row", r, ""))
        rows.append(("@mlflow.trace, 256x20 batch", b, ""))
        out["mlflow"] = (r, b)
    except ImportError:
        pass
    try:
        from openinference.instrumentation import TracerProvider as OITracerProvider

        oi_provider = OITracerProvider()
        oi_provider.add_span_processor(BatchSpanProcessor(DropExporter(), max_queue_size=65536))
        oi_tracer = oi_provider.get_tracer("bench")
        chain = oi_tracer.chain(model)
        r = per_call_us(lambda: chain(row), peer_calls, repeats)
        b = per_call_us(lambda: chain(batch), peer_calls, repeats)
        rows.append(("OpenInference @tracer.chain, 1x20 row", r, ""))
        rows.append(("OpenInference @tracer.chain, 256x20 batch", b, ""))
        out["openinference"] = (r, b)
        oi_provider.shutdown()
    except ImportError:
        pass
    return out


if __name__ == "__main__":
    sys.exit(main())
