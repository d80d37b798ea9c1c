"""modeltrace on a real scikit-learn model.

    python examples/sklearn_wine.py                      # print the spans it produces
    python examples/sklearn_wine.py --endpoint http://127.0.0.1:4317   # send them to a collector

Trains a classifier on the wine data set that ships with scikit-learn, serves it through
``modeltrace.instrument`` and a decorated request handler, logs ground truth, and runs a
batch job.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import modeltrace

data = load_wine(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, random_state=0)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
modeltrace.instrument(model, name="wine-quality", version="1.0", profile_rate=0.05)


@modeltrace.trace_model(name="wine-api", version="1.0", operation="handle", profile_rate=0)
def handle_request(rows: list[int]) -> list[dict[str, Any]]:
    """One API request: fetch features, score them, shape the response."""
    with modeltrace.step("fetch_features"):
        time.sleep(0.002)  # a feature-store lookup
        features = X_test.iloc[rows]
    proba = model.predict_proba(features)
    with modeltrace.step("postprocess"):
        return [{"class": int(np.argmax(p)), "confidence": round(float(np.max(p)), 3)} for p in proba]


def run_traffic(requests: int = 40) -> None:
    """Online traffic one row at a time with ground truth, then a batch job."""
    for i in range(requests):
        row = i % len(X_test)
        handle_request([row])
        modeltrace.log_actual(modeltrace.current_prediction_id(), int(y_test.iloc[row]), model="wine-api")
    model.predict(X_test)
    modeltrace.flush()


def print_spans(spans: Any) -> None:
    print(f"{len(spans)} spans produced\n")
    counts: dict[str, int] = {}
    for s in spans:
        counts[s.name] = counts.get(s.name, 0) + 1
    for name, n in sorted(counts.items()):
        print(f"  {n:4d}  {name}")

    def show(span: Any, keys: list[str]) -> None:
        print(f"\n--- {span.name}  ({(span.end_time - span.start_time) / 1e6:.2f} ms)")
        parent = span.parent.span_id if span.parent else None
        print(f"    span {span.context.span_id:016x}  parent {parent and f'{parent:016x}'}")
        for k in keys:
            if k in span.attributes:
                v = span.attributes[k]
                text = json.dumps(json.loads(v))[:300] if isinstance(v, str) and v[:1] in "[{" else v
                print(f"    {k} = {text}")

    request = next(s for s in spans if s.name == "handle wine-api")
    children = [s for s in spans if s.parent and s.parent.span_id == request.context.span_id]
    show(request, ["ml.model.name", "ml.prediction.id", "ml.input.rows", "ml.output.rows"])
    for child in children:
        show(child, ["ml.step.name", "ml.model.name", "ml.input.rows", "ml.input.sample", "ml.output.sample"])
    batch = next(s for s in spans if s.name == "predict wine-quality" and s.attributes["ml.input.rows"] > 1)
    show(batch, ["ml.input.rows", "ml.input.columns", "ml.input.stats", "ml.output.sample"])
    profiled = [s for s in spans if s.attributes.get("ml.profile.sampled")]
    if profiled:
        hot = json.loads(profiled[0].attributes["ml.profile.hotspots"])
        print(f"\n--- hotspots of a profiled call ({len(profiled)} of {len(spans)} spans were profiled)")
        for h in hot[:5]:
            print(f"    {h['self_ms']:8.3f} ms self  {h['cum_ms']:8.3f} ms cum  {h['calls']:5d}x  {h['function']}")
    feedback = next(s for s in spans if s.name.startswith("feedback"))
    show(feedback, ["ml.prediction.id", "ml.actual"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="OTLP endpoint of a collector (gRPC), e.g. http://127.0.0.1:4317")
    parser.add_argument("--requests", type=int, default=40)
    args = parser.parse_args()
    if args.endpoint:
        modeltrace.configure(service_name="wine-api", endpoint=args.endpoint, protocol="grpc")
        run_traffic(args.requests)
        modeltrace.shutdown()
        return
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    modeltrace.configure(service_name="wine-api", exporter=exporter)
    run_traffic(args.requests)
    print_spans(exporter.get_finished_spans())
    modeltrace.shutdown()


if __name__ == "__main__":
    main()
