"""modeltrace on a real scikit-learn model, printing the spans it produces.

Run with ``make demo``. Trains a classifier on the wine data set that ships with
scikit-learn, serves it through ``modeltrace.instrument`` and a decorated request
handler, and prints what each span carries. Until the collector runs, spans go to an
in-memory exporter; point ``modeltrace.configure(endpoint=...)`` at any OTLP endpoint
(the collector, Jaeger, an OpenTelemetry Collector) to ship them instead.
"""

from __future__ import annotations

import json
import time

import numpy as np
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn.datasets import load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

import modeltrace

exporter = InMemorySpanExporter()
modeltrace.configure(service_name="wine-api", exporter=exporter)

data = load_wine(as_frame=True)
X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, random_state=0)
model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
modeltrace.instrument(model, name="wine-quality", version="1.0", profile_rate=0.05)


@modeltrace.trace_model(name="wine-api", version="1.0", operation="handle", profile_rate=0)
def handle_request(rows):
    """One API request: fetch features, score them, shape the response."""
    with modeltrace.step("fetch_features"):
        time.sleep(0.002)  # a feature-store lookup
        features = X_test.iloc[rows]
    proba = model.predict_proba(features)
    with modeltrace.step("postprocess"):
        return [{"class": int(np.argmax(p)), "confidence": round(float(np.max(p)), 3)} for p in proba]


def main() -> None:
    # online traffic: one row at a time, then a batch job
    for i in range(40):
        handle_request([i % len(X_test)])
        modeltrace.log_actual(modeltrace.current_prediction_id(), int(y_test.iloc[i % len(X_test)]), model="wine-api")
    model.predict(X_test)
    modeltrace.flush()

    spans = exporter.get_finished_spans()
    print(f"{len(spans)} spans produced\n")
    counts: dict[str, int] = {}
    for s in spans:
        counts[s.name] = counts.get(s.name, 0) + 1
    for name, n in sorted(counts.items()):
        print(f"  {n:4d}  {name}")

    def show(span, keys):
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
    modeltrace.shutdown()


if __name__ == "__main__":
    main()
