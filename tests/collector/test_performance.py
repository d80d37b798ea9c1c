"""Model performance from real SDK spans (predictions, scores, ``log_actual`` feedback) stored
through the collector's flattening into chDB, checked against ``sklearn.metrics``."""

from __future__ import annotations

import math

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sklearn import metrics
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression

import modeltrace
from modeltrace._internal import state
from modeltrace_collector.analysis.performance import Performance
from modeltrace_collector.pipeline.flatten import TABLES, flatten

T0 = (1_790_000_000_000 - 1_790_000_000_000 % 3_600_000) * 1_000_000  # ns, on the hour
HOUR_NS = 3_600_000_000_000


class Recorder:
    """The SDK's spans of the calls made inside it, stored into ``store`` on exit."""

    def __init__(self, store) -> None:
        self.store = store
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(resource=Resource.create({"service.name": "perf", "host.name": "h"}))
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def __enter__(self) -> Recorder:
        self.previous = state._provider
        state.set_provider(self.provider)
        return self

    def __exit__(self, *exc: object) -> None:
        state.set_provider(self.previous)
        state.now_ns = __import__("time").time_ns
        batch = flatten([encode_spans(self.exporter.get_finished_spans()).SerializeToString()])
        self.store.insert("otel_traces", batch.columns["otel_traces"], TABLES["otel_traces"], f"perf-{id(self)}")
        self.provider.shutdown()


@pytest.fixture(autouse=True, params=["analyzer", "no analyzer"])
def analyzer(request, store):
    """Every test runs without the analyzer too, where ClickHouse still has the old one."""
    if request.param == "analyzer":
        yield
        return
    version = store.query("SELECT version()").result_rows[0][0]
    if tuple(int(part) for part in version.split(".")[:2]) >= (26, 9):
        pytest.skip("ClickHouse 26.9 and later always run the analyzer")
    store.client.set_client_setting("enable_analyzer", 0)
    yield
    store.client.set_client_setting("enable_analyzer", 1)


def at(ns: int) -> None:
    state.now_ns = lambda: ns


def end_ms(hours: float) -> int:
    return (T0 + int(hours * HOUR_NS)) // 1_000_000


def test_classification_metrics_match_sklearn(store) -> None:
    x, y = make_classification(600, n_features=6, n_informative=4, n_classes=3, random_state=0)
    clf = LogisticRegression(max_iter=500).fit(x[:200], y[:200])
    predict = {
        v: modeltrace.trace_model(name="clf", version=v, output="scores", profile_rate=0, profile_after_slow=0)(
            clf.predict_proba
        )
        for v in ("1", "2")
    }
    truth: dict[tuple[str, int], tuple[list[int], list[int]]] = {}
    with Recorder(store):
        for i in range(200, 600):
            version = "1" if i < 400 else "2"
            hour = (i - 200) % 2  # two hourly buckets per version
            at(T0 + hour * HOUR_NS + i * 1_000_000)
            proba = predict[version](x[i : i + 1])
            pid = modeltrace.current_prediction_id()
            if i % 4 == 3:
                continue  # some calls never get ground truth
            modeltrace.log_actual(pid, int(y[i]), model="clf")
            pred, actual = truth.setdefault((version, hour), ([], []))
            pred.append(int(proba.argmax()))
            actual.append(int(y[i]))
    result = Performance(store).analyze("clf", window=4 * 3600, end_ms=end_ms(2))
    assert result["task"] == "classification" and result["prediction_field"] == "label"
    measured = {(r["version"], (r["bucket_ms"] * 1_000_000 - T0) // HOUR_NS): r for r in result["measured"]}
    assert set(measured) == set(truth)
    for key, (pred, actual) in truth.items():
        row = measured[key]
        assert row["n"] == len(pred)
        assert row["accuracy"] == pytest.approx(metrics.accuracy_score(actual, pred), abs=1e-9)
        p, r, f1, _ = metrics.precision_recall_fscore_support(actual, pred, average="macro", zero_division=0)
        assert (row["precision"], row["recall"], row["f1"]) == pytest.approx((p, r, f1), abs=1e-9)


def test_regression_metrics_match_sklearn(store) -> None:
    x, y = make_regression(300, n_features=4, noise=10.0, random_state=1)
    reg = LinearRegression().fit(x[:100], y[:100])
    predict = modeltrace.trace_model(name="reg", version="1", profile_rate=0, profile_after_slow=0)(reg.predict)
    preds, actuals = [], []
    with Recorder(store):
        for i in range(100, 300):
            at(T0 + i * 1_000_000)
            out = predict(x[i : i + 1])
            modeltrace.log_actual(modeltrace.current_prediction_id(), float(y[i]), model="reg")
            preds.append(float(out[0]))
            actuals.append(float(y[i]))
    result = Performance(store).analyze("reg", window=3600, end_ms=end_ms(1))
    assert result["task"] == "regression"
    [row] = result["measured"]
    assert row["n"] == 200
    # the SDK samples outputs as JSON with 6 significant digits
    assert row["mae"] == pytest.approx(metrics.mean_absolute_error(actuals, preds), rel=1e-5)
    assert row["rmse"] == pytest.approx(math.sqrt(metrics.mean_squared_error(actuals, preds)), rel=1e-5)


def test_estimated_accuracy_without_labels_covers_the_real_accuracy(store) -> None:
    """Labels arrive for the first hour only; the second hour's accuracy is estimated from the
    scores (calibrated on the first hour) and its interval holds the accuracy it really had."""
    x, y = make_classification(3200, n_features=8, n_informative=3, n_classes=2, flip_y=0.1, random_state=2)
    clf = LogisticRegression(max_iter=500).fit(x[:800], y[:800])
    predict = modeltrace.trace_model(name="cbpe", version="1", output="scores", profile_rate=0, profile_after_slow=0)(
        clf.predict_proba
    )
    hidden_pred, hidden_true = [], []
    with Recorder(store):
        for i in range(800, 3200):
            labelled = i < 2000
            at(T0 + (0 if labelled else HOUR_NS) + i * 1_000_000)
            proba = predict(x[i : i + 1])
            if labelled:
                modeltrace.log_actual(modeltrace.current_prediction_id(), int(y[i]), model="cbpe")
            else:
                hidden_pred.append(int(proba.argmax()))
                hidden_true.append(int(y[i]))
    result = Performance(store).analyze("cbpe", window=2 * 3600, end_ms=end_ms(2))
    second = [e for e in result["estimated"] if e["bucket_ms"] == (T0 + HOUR_NS) // 1_000_000]
    assert len(second) == 1
    est = second[0]
    real = metrics.accuracy_score(hidden_true, hidden_pred)
    assert est["n"] == len(hidden_pred)
    assert est["calibrated_share"] > 0.9
    assert est["ci95"][0] <= real <= est["ci95"][1], (est, real)
    assert est["ci95"][1] - est["ci95"][0] < 0.1
    assert abs(est["estimated_accuracy"] - real) < 0.03


def test_without_measured_performance_the_answer_says_what_is_missing(store) -> None:
    x, y = make_classification(60, n_features=4, random_state=1)
    clf = LogisticRegression(max_iter=200).fit(x, y)
    blind = modeltrace.trace_model(name="blind", output="none", profile_rate=0, profile_after_slow=0)(clf.predict)
    seen = modeltrace.trace_model(name="seen", output="scores", profile_rate=0, profile_after_slow=0)(clf.predict_proba)
    with Recorder(store):
        for i in range(20):
            at(T0 + i * 1_000_000)
            blind(x[i : i + 1])
            modeltrace.log_actual(modeltrace.current_prediction_id(), int(y[i]), model="blind")
            seen(x[i : i + 1])  # no ground truth sent
    window = {"window": 2 * 3600, "end_ms": end_ms(1)}
    blind_result = Performance(store).analyze("blind", **window)
    assert blind_result["measured"] == [] and "carry no output sample" in blind_result["note"]
    seen_result = Performance(store).analyze("seen", **window)
    assert seen_result["measured"] == [] and seen_result["note"].startswith("no ground truth for 'seen'")
    wrong = Performance(store).analyze("seen", prediction_field="verdict", **window)
    assert "has no output field 'verdict'; its outputs are label, score" in wrong["note"]
