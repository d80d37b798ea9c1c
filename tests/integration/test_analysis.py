"""The analysis in a real collector: a slow host is found, explained, stored, announced by
webhook and readable through the API and the CLI; an uploaded reference drives drift."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.bench.scenarios import MINUTE_NS, Scenario, matches, requests
from tests.bench.scenarios import send as export
from tests.integration.collector_proc import ROOT, CollectorProcess


class Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    fail_first = 1

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Hook.fail_first > 0:  # the first delivery fails: the collector must retry
            Hook.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        Hook.received.append(body)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Hook.received, Hook.fail_first = [], 1
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def send(collector: CollectorProcess, sc: Scenario) -> None:
    export(collector.grpc_endpoint, requests(sc))
    collector.wait_stored("ml_predictions", sc.calls_sent, f"ModelName = '{sc.model}'", timeout=120)
    collector.wait_stored("ml_latency_minutes", 1, f"ModelName = '{sc.model}'", timeout=30)


@pytest.mark.slow
def test_slow_host_is_found_explained_and_announced(tmp_path, webhook):
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", f"analysis.webhook_url={webhook}").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        sc = Scenario("slow_host", 5, "scorer", start, baseline_minutes=60, fault_minutes=8, calls_per_minute=16)
        send(collector, sc)
        # before the fault: nothing to report
        quiet = collector.post(f"/api/analysis/run?model=scorer&at={sc.fault_start_ns // 1_000_000}")
        assert quiet["opened"] == []
        at = (sc.fault_start_ns + 5 * MINUTE_NS) // 1_000_000
        result = collector.post(f"/api/analysis/run?model=scorer&at={at}")
        latency = [f for f in result["opened"] if f["kind"] == "latency"]
        assert len(latency) == 1, result
        finding = latency[0]
        assert finding["model"] == "scorer" and finding["version"] == "1.0" and finding["operation"] == "handle"
        fault_start = dt.datetime.fromtimestamp(sc.fault_start_ns / 1e9, dt.timezone.utc).replace(tzinfo=None)
        assert dt.datetime.fromisoformat(finding["window_start"].rstrip("Z")) == fault_start
        causes = finding["evidence"]["root_causes"]
        assert matches(causes[0], "slow_host"), causes[0]
        assert "node-3" in causes[0]["evidence"]
        # the same run again: no new finding, no storm
        again = collector.post(f"/api/analysis/run?model=scorer&at={at + 60_000}")
        assert again["opened"] == []
        status, stored = collector.get("/api/findings?model=scorer&status=open")
        assert status == 200 and [f["id"] for f in stored["findings"] if f["kind"] == "latency"] == [finding["id"]]
        # the CLI reads the same through the API
        out = subprocess.run(
            [sys.executable, "-m", "modeltrace_collector", "rca", finding["id"], "--api-url", collector.api, "--json"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        )
        assert json.loads(out.stdout)["causes"][0]["value"] == "node-3"
        table = subprocess.run(
            [sys.executable, "-m", "modeltrace_collector", "anomalies", "--api-url", collector.api],
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=True,
        ).stdout
        assert finding["id"] in table and "node-3" in table
        # long after the fault ended (and the traffic with it), the finding resolves; the
        # silence itself is a traffic drop
        later = collector.post(f"/api/analysis/run?model=scorer&at={(sc.end_ns + 30 * MINUTE_NS) // 1_000_000}")
        assert [f["id"] for f in later["resolved"]] == [finding["id"]]
        (silence,) = later["opened"]
        assert (silence["kind"], silence["version"], silence["severity"]) == ("traffic_drop", "", "critical")
        assert silence["evidence"]["summary"].startswith("0 calls/min vs usually 1")  # about 16 a minute
        collector.wait_until(lambda: len(Hook.received) >= 3, timeout=30, what="three webhook deliveries")
        assert [(e["event"], e["finding"]["id"]) for e in Hook.received] == [
            ("opened", finding["id"]),
            ("resolved", finding["id"]),
            ("opened", silence["id"]),
        ]
        # an alert says why: the summary and the top three causes with their evidence
        alert = Hook.received[0]
        assert alert["summary"] == finding["evidence"]["summary"]
        assert alert["causes"] == [{k: c[k] for k in alert["causes"][0]} for c in causes[:3]]
        assert alert["causes"][0]["value"] == "node-3" and "node-3" in alert["causes"][0]["evidence"]
        # unknown models and bad input get clear errors
        assert collector.get("/api/drift?model=nope")[0] == 404
        assert collector.get("/api/rca/ffffffffffffffff")[0] == 404
        assert collector.get("/api/anomalies?at=yesterday")[0] == 400
    finally:
        collector.stop()


@pytest.mark.slow
def test_uploaded_reference_drives_drift(tmp_path):
    import numpy as np

    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        sc = Scenario(
            "drift_only", 9, "scorer", start, baseline_minutes=0, fault_minutes=30, calls_per_minute=20, drift_shift=1.0
        )
        send(collector, sc)
        rng = np.random.default_rng(1)
        reference = {f"f{i}": rng.normal(0, 1, 2000).round(6).tolist() for i in range(6)}
        ref = collector.post("/api/references", {"model": "scorer", "features": reference})
        assert ref["features"] == 6 and ref["values"] == 12000
        status, drift = collector.get(f"/api/drift?model=scorer&at={sc.end_ns // 1_000_000}&window=30m")
        assert status == 200
        (report,) = drift["reports"]
        assert report["reference"]["kind"] == "upload"
        drifted = sorted(f["feature"] for f in report["features"] if f["drifted"] and f["side"] == "input")
        assert drifted == ["f2"]
        # a malformed reference is refused and stores nothing
        status, body = collector.get("/api/references?model=scorer")
        assert status == 200 and len(body["references"]) == 1
        req = urllib.request.Request(
            f"{collector.api}/api/references",
            data=json.dumps({"model": "scorer", "features": {"x": [1, "a"]}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=30)
        assert err.value.code == 400
    finally:
        collector.stop()


def _first_latency_causes(collector: CollectorProcess, fault: str, seed: int, model: str) -> list[dict]:
    """The stored root causes of the one latency finding a scenario's fault opens, five minutes in."""
    start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
    sc = Scenario(fault, seed, model, start, baseline_minutes=60, fault_minutes=8, calls_per_minute=24)
    send(collector, sc)
    at = (sc.fault_start_ns + 5 * MINUTE_NS) // 1_000_000
    result = collector.post(f"/api/analysis/run?model={model}&at={at}")
    latency = [f for f in result["opened"] if f["kind"] == "latency"]
    assert len(latency) == 1, result
    return latency[0]["evidence"]["root_causes"]


@pytest.mark.slow
def test_a_categorical_input_is_named_as_the_cause(tmp_path):
    """All slow calls come from channel=partner (a categorical input, a third of the traffic):
    the cause named first is input.channel = partner, with its shares."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false").start()
    try:
        causes = _first_latency_causes(collector, "slow_channel", 11, "pricing")
        assert matches(causes[0], "slow_channel"), causes[:3]
        assert causes[0]["type"] == "input" and "input channel=partner in" in causes[0]["evidence"]
        assert causes[0]["target_share"] > 0.9 and causes[0]["normal_share"] < 0.4
    finally:
        collector.stop()


def _sample_calls(model: str, values: list[float], end_ns: int) -> bytes:
    """One call of ``model`` per value (its input sample {"x": [value]}) over the ten minutes
    before ``end_ns``, as one OTLP request."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

    def kv(key: str, value: str) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value))

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    step = 10 * MINUTE_NS // len(values)
    for i, value in enumerate(values):
        start = end_ns - 10 * MINUTE_NS + i * step
        scope.spans.add(
            trace_id=(i + 1).to_bytes(8, "big") + end_ns.to_bytes(8, "big"), span_id=(i + 1).to_bytes(8, "big"),
            name=f"predict {model}", start_time_unix_nano=start, end_time_unix_nano=start + 2_000_000,
            attributes=[kv("ml.model.name", model), kv("ml.model.version", "1"), kv("ml.operation.name", "predict"),
                        kv("ml.input.sample", json.dumps({"x": [value]}))],
        )  # fmt: skip
    return request.SerializeToString()


@pytest.mark.slow
def test_a_drift_finding_held_open_says_so_and_keeps_the_score_that_opened_it(tmp_path):
    """A feature shifts far (KS p ~ 0), then comes most of the way back (p 0.03: no longer drift
    at 0.01, not yet clear of the 0.05 hold bar). The finding stays open, and its evidence says it
    is held, and by what score it opened, instead of a score under its threshold alone."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", "drift.window_seconds=600").start()
    try:
        reference = [i / 400 for i in range(400)]
        assert collector.post("/api/references", {"model": "holdm", "version": "1", "features": {"x": reference}})
        t1 = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        t2 = t1 + 20 * MINUTE_NS
        for end, shift in ((t1, 0.5), (t2, 0.125)):
            body = _sample_calls("holdm", [i / 200 + shift for i in range(200)], end)
            request = urllib.request.Request(
                f"http://127.0.0.1:{collector.http_port}/v1/traces", data=body,
                headers={"Content-Type": "application/x-protobuf"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
        collector.wait_stored("ml_features", 400, "ModelName = 'holdm'", timeout=60)
        opened = collector.post(f"/api/analysis/run?model=holdm&at={t1 // 1_000_000}")
        drift = [f for f in opened["opened"] if f["kind"] == "drift" and f["subject"] == "input.x"]
        assert len(drift) == 1, opened
        first = drift[0]["evidence"]
        assert first["held"] is False and first["opened_score"] < 1e-6 and not first["summary"].startswith("held")
        later = collector.post(f"/api/analysis/run?model=holdm&at={t2 // 1_000_000}")
        assert [f["id"] for f in later["resolved"] if f["subject"] == "input.x"] == []
        status, found = collector.get(f"/api/findings/{drift[0]['id']}")
        assert status == 200 and found["status"] == "open"
        evidence = found["evidence"]
        assert evidence["held"] is True and 0.01 < found["score"] < 0.05
        assert evidence["opened_score"] == first["opened_score"]
        assert evidence["summary"].startswith("held open: ks 0.03") and "opened at" in evidence["summary"]
    finally:
        collector.stop()


@pytest.mark.slow
def test_a_slow_step_on_one_host_names_the_host_with_the_step_as_its_mechanism(tmp_path):
    """node-2 alone is slow at fetch_features: the step is where the time goes, the host is why.
    The host is named first, saying both; the step follows. A step slow everywhere stays first."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false").start()
    try:
        for fault, model in (("slow_host_step", "ranker"), ("slow_step", "matcher")):
            causes = _first_latency_causes(collector, fault, 21, model)
            assert matches(causes[0], fault), causes[:3]
            if fault == "slow_host_step":
                assert causes[0]["mechanism"] == "step=fetch_features"
                assert causes[0]["evidence"].startswith("node-2: its fetch_features step went from")
                assert causes[1]["dimension"] == "step" and causes[1]["value"] == "fetch_features"
            else:
                assert "mechanism" not in causes[0]
    finally:
        collector.stop()


@pytest.mark.slow
@pytest.mark.timeout(600)  # thirty analysis passes; the legacy ClickHouse 24.8 engine is slower
def test_a_deploy_that_changes_nothing_opens_no_drift_finding(tmp_path):
    """Every call scores a batch whose rows cluster by call (one region and channel per batch,
    numbers near the batch's centre); version 1.1 replaces 1.0 and nothing else changes. Counted
    as rows, a few dozen calls look like thousands of independent values and the tests see drift
    by chance; counted as what they are (the effective sample size), nothing opens, minute after
    minute through the first ten minutes of the new version (chance drift came 1 to 4 minutes
    after a deploy), on three seeds."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", "drift.window_seconds=1200").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        for seed in (1, 2, 3):
            model = f"batcher-{seed}"
            sc = Scenario("noop_deploy", seed, model, start, baseline_minutes=120, fault_minutes=10)
            send(collector, sc)
            tested = set()
            for k in range(1, 11):
                at = (sc.fault_start_ns + k * MINUTE_NS) // 1_000_000
                result = collector.post(f"/api/analysis/run?model={model}&at={at}")
                assert [f["subject"] for f in result["opened"]] == [], (k, result["opened"])
            status, drift = collector.get(f"/api/drift?model={model}&version=1.1&at={at}")
            assert status == 200
            for f in drift["reports"][0]["features"]:
                if f["tested"]:
                    tested.add(f["feature"])
            # not vacuous: the new version's inputs, numbers and categories, were tested
            assert {"f0", "f5", "channel", "region"} <= tested, tested
    finally:
        collector.stop()


@pytest.mark.slow
def test_an_accuracy_drop_is_explained_as_concept_drift_or_input_drift(tmp_path):
    """A classifier with ground truth (labels arrive a minute after each call). In one model the
    truth flips for the partner channel (the same inputs, a new relation): the drop opens a
    performance finding whose first cause is channel=partner, read as concept drift. In the
    other, input f1 spreads four times wider (the relation holds; calls move to where the model
    was always weak): the first cause is f1's range, read as input drift."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", "performance.window_seconds=1200").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        for fault, verdict in (("concept_drift", "concept drift"), ("input_drift_errors", "input drift")):
            sc = Scenario(fault, 31, f"clf-{fault}", start, baseline_minutes=120, fault_minutes=20)
            send(collector, sc)
            collector.wait_stored("ml_actuals", sc.calls_sent - 30, f"ModelName = '{sc.model}'", timeout=60)
            before = collector.post(f"/api/analysis/run?model={sc.model}&at={sc.fault_start_ns // 1_000_000}")
            assert [f for f in before["opened"] if f["kind"] == "performance"] == []
            at = (sc.fault_start_ns + 12 * MINUTE_NS) // 1_000_000
            result = collector.post(f"/api/analysis/run?model={sc.model}&at={at}")
            (perf,) = [f for f in result["opened"] if f["kind"] == "performance"]
            evidence = perf["evidence"]
            assert perf["subject"] == "accuracy" and perf["score"] < perf["threshold"] - 0.05
            assert matches(evidence["root_causes"][0], fault), evidence["root_causes"][:3]
            assert evidence["concept"]["verdict"] == verdict, evidence["concept"]
            assert evidence["concept"]["summary"].startswith(verdict + ":")
    finally:
        collector.stop()


@pytest.mark.slow
def test_drifted_features_are_ranked_by_what_they_do(tmp_path):
    """f2 shifts in two models; in one, calls with high f2 are slow. There the drift goes with
    latency (a rank correlation named in its finding's summary); in the other it goes with
    nothing, and says nothing of latency."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", "drift.window_seconds=1200").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        impact = {}
        for fault in ("drifted_feature", "drift_only"):
            sc = Scenario(fault, 41, f"imp-{fault}", start, baseline_minutes=120, fault_minutes=20)
            send(collector, sc)
            at = sc.end_ns // 1_000_000
            status, drift = collector.get(f"/api/drift?model={sc.model}&at={at}")
            assert status == 200
            (report,) = drift["reports"]
            assert report["ranked_by_impact"][0] == "f2", report["ranked_by_impact"]
            (f2,) = [f for f in report["features"] if f["feature"] == "f2" and f["side"] == "input"]
            impact[fault] = f2["impact"]
            result = collector.post(f"/api/analysis/run?model={sc.model}&at={at}")
            (finding,) = [f for f in result["opened"] if f["kind"] == "drift" and f["subject"] == "input.f2"]
            assert finding["evidence"]["impact_rank"] == 1
            impact[fault + " summary"] = finding["evidence"]["summary"]
        assert impact["drifted_feature"]["latency"] > 0.3 and impact["drifted_feature"]["calls"] > 400
        assert "goes with latency (+0." in impact["drifted_feature summary"]
        assert abs(impact["drift_only"]["latency"]) < 0.2 and "goes with" not in impact["drift_only summary"]
    finally:
        collector.stop()


@pytest.mark.slow
def test_a_change_in_how_inputs_move_together_is_multivariate_drift(tmp_path):
    """f0 and f1 go from correlated +0.9 to -0.9, each keeping its own distribution: no
    per-feature drift finding opens, a multivariate_drift one does, naming f0 and f1."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false", "drift.window_seconds=1200").start()
    try:
        start = int(dt.datetime(2026, 10, 1, tzinfo=dt.timezone.utc).timestamp() * 1e9)
        sc = Scenario("correlation_flip", 51, "joint", start, baseline_minutes=120, fault_minutes=20)
        send(collector, sc)
        result = collector.post(f"/api/analysis/run?model=joint&at={sc.end_ns // 1_000_000}")
        kinds = {(f["kind"], f["subject"]) for f in result["opened"]}
        assert ("multivariate_drift", "input") in kinds, kinds
        assert not {k for k in kinds if k[0] == "drift"}, kinds
        (joint,) = [f for f in result["opened"] if f["kind"] == "multivariate_drift"]
        assert {c["feature"] for c in joint["evidence"]["contributions"][:2]} == {"f0", "f1"}
        assert joint["evidence"]["summary"].startswith("how the inputs move together changed")
    finally:
        collector.stop()


@pytest.mark.slow
def test_a_host_and_a_categorical_value_together_are_named_as_a_pair(tmp_path):
    """Only partner-channel calls on node-2 are slow (a twelfth of the traffic): neither the host
    nor the channel alone explains them, the pair does and is named first."""
    collector = CollectorProcess(str(tmp_path), "analysis.enabled=false").start()
    try:
        causes = _first_latency_causes(collector, "slow_pair", 61, "pairs")
        assert matches(causes[0], "slow_pair"), causes[:3]
        assert " on " in causes[0]["evidence"] and causes[0]["target_share"] > 0.5 > 0.1 > causes[0]["normal_share"]
    finally:
        collector.stop()
