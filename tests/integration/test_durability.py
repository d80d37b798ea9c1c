"""Acknowledged spans survive kill -9; a full spool pushes back with retryable errors."""

import json
import os
import threading
import time
import urllib.error
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.integration.collector_proc import CollectorProcess
from tests.otlp_receiver import free_port

pytestmark = pytest.mark.slow


def request_with(span_ids, pad=0):
    spans = [
        trace_pb2.Span(
            trace_id=(sid * 7919).to_bytes(16, "big"),
            span_id=sid.to_bytes(8, "big"),
            name="predict load",
            start_time_unix_nano=1_700_000_000_000_000_000 + sid,
            end_time_unix_nano=1_700_000_000_000_100_000 + sid,
            attributes=[
                common_pb2.KeyValue(key="ml.model.name", value=common_pb2.AnyValue(string_value="load")),
                common_pb2.KeyValue(key="pad", value=common_pb2.AnyValue(string_value="x" * pad)),
            ],
        )
        for sid in span_ids
    ]
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    ).SerializeToString()


def send(endpoint, body, timeout=5):
    request = urllib.request.Request(
        endpoint + "/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


HOTSPOTS = json.dumps(
    [{"function": "predict", "file": "model.py", "line": 3, "calls": 1, "self_ms": 0.1, "cum_ms": 0.2}]
)


def ml_request(span_ids):
    """Spans that fill every table the views derive: predict calls with an input sample and
    hotspots, every 7th of them failed, and as every 4th span the ground truth of an earlier call."""
    spans = []
    for sid in span_ids:
        attrs = {"ml.model.name": "load"}
        if sid % 4 == 0:
            attrs.update({"ml.operation.name": "feedback", "ml.prediction.id": f"p{sid - 1}", "ml.actual": "[1]"})
        else:
            attrs.update({"ml.prediction.id": f"p{sid}", "ml.input.sample": f'{{"x": [{sid}]}}'})
            attrs["ml.profile.hotspots"] = HOTSPOTS
        failed = sid % 4 != 0 and sid % 7 == 0
        spans.append(
            trace_pb2.Span(
                trace_id=(sid * 7919).to_bytes(16, "big"),
                span_id=sid.to_bytes(8, "big"),
                name="predict load",
                start_time_unix_nano=1_700_000_000_000_000_000 + sid,
                end_time_unix_nano=1_700_000_000_000_100_000 + sid,
                attributes=[
                    common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v)) for k, v in attrs.items()
                ],
                status=trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR if failed else 0),
            )
        )
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[trace_pb2.ResourceSpans(scope_spans=[trace_pb2.ScopeSpans(spans=spans)])]
    ).SerializeToString()


def writing(proc):
    try:
        with open(os.path.join(proc.data_dir, "spool", "cursor.json"), encoding="utf-8") as f:
            return "intent" in json.load(f)
    except (OSError, ValueError):
        return False


def test_every_acknowledged_span_survives_kill_9_exactly_once(tmp_path, clickhouse_version):
    proc = CollectorProcess(str(tmp_path / "c")).start()
    try:
        kill_9_cycles(proc, clickhouse_version)
    finally:
        proc.kill()  # a failed check leaves no collector behind


def kill_9_cycles(proc, clickhouse_version):
    metrics = urllib.request.urlopen(proc.api + "/metrics", timeout=10).read().decode()
    assert f'modeltrace_clickhouse_info{{version="{clickhouse_version}.' in metrics  # the engine asked for
    acked: list[int] = []
    next_sid = [1]

    def client(stop):
        while not stop.is_set():
            ids = list(range(next_sid[0], next_sid[0] + 20))
            next_sid[0] += 20
            try:
                status, _ = send(proc.http_endpoint, ml_request(ids))
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.01)
                continue
            if status == 200:
                acked.extend(ids)

    for cycle in (1, 2, 3):  # each kill -9 mid-stream: nothing flushed, nothing shut down
        if cycle > 1:
            proc.start()
        stop = threading.Event()
        thread = threading.Thread(target=client, args=(stop,))
        thread.start()
        # then killed while a batch is on its way to storage (the spool's cursor holds its
        # bounds until it is stored), so that the restart replays it
        proc.wait_until(lambda n=cycle * 700: len(acked) >= n and writing(proc), what="a batch being written")
        proc.kill()
        time.sleep(0.3)
        stop.set()
        thread.join()
    assert len(acked) >= 2000

    proc.start()
    proc.wait_until(lambda: proc.get("/ready")[1].get("spool_records") == 0, what="the spool to drain")
    proc.wait_stored("otel_traces", len(acked))
    total, distinct = proc.sql("SELECT count(), uniqExact(SpanId) FROM modeltrace.otel_traces")[0]
    assert total == distinct  # no span stored twice
    stored = {int(r[0], 16) for r in proc.sql("SELECT SpanId FROM modeltrace.otel_traces")}
    assert set(acked) <= stored
    # and every row derived from them is there once: none lost, none doubled by a replay
    feedback = {s for s in stored if s % 4 == 0}
    calls = stored - feedback
    failed = {s for s in calls if s % 7 == 0}
    counts = {
        table: proc.count(table)
        for table in ("otel_traces_trace_id_ts", "ml_predictions", "ml_features", "ml_hotspots", "ml_actuals")
    }
    assert counts == {
        "otel_traces_trace_id_ts": len(stored),  # one trace per span
        "ml_predictions": len(calls),
        "ml_features": len(calls),
        "ml_hotspots": len(calls),
        "ml_actuals": len(feedback),
    }
    rollup = proc.sql("SELECT sum(Calls), sum(Errors) FROM modeltrace.ml_latency_minutes")[0]
    assert [int(n) for n in rollup] == [len(calls), len(failed)]
    assert proc.stop() == 0


def test_unreachable_storage_fills_the_spool_then_clients_get_retryable_errors(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens here
    proc = CollectorProcess(str(tmp_path / "c"), "spool.max_bytes=60000", "spool.segment_bytes=20000", dsn=dead).start(
        wait_ready=False
    )
    try:
        statuses = []
        for i in range(40):
            status, headers = send(proc.http_endpoint, request_with(range(i * 5 + 1, i * 5 + 6), pad=1000))
            statuses.append(status)
            if status == 503:
                assert headers.get("Retry-After") == "2"
                break
        assert statuses[0] == 200 and statuses[-1] == 503
        channel = grpc.insecure_channel(f"127.0.0.1:{proc.grpc_port}")
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as info:
            export(request_with(range(9000, 9010), pad=1000), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(info.value.trailing_metadata())["grpc-status-details-bin"]
        from google.rpc import error_details_pb2, status_pb2

        status = status_pb2.Status.FromString(details)
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry) and retry.retry_delay.seconds == 2
        channel.close()
        code, ready = proc.get("/ready")
        assert code == 503 and ready["storage"] == "unreachable" and ready["spool_records"] >= 1
        metrics = urllib.request.urlopen(proc.api + "/metrics", timeout=10).read().decode()
        assert 'modeltrace_requests_rejected_total{reason="spool_full"}' in metrics
    finally:
        proc.stop()
        proc.kill()


def test_sigterm_writes_the_spool_out_before_exiting(tmp_path):
    from modeltrace_collector.pipeline.spool import Spool

    # A long writer delay: without the drain on shutdown these spans would still be spooled.
    proc = CollectorProcess(str(tmp_path / "c"), "writer.max_delay_seconds=60").start()
    for i in range(10):
        assert send(proc.http_endpoint, request_with(range(i * 10 + 1, i * 10 + 11)))[0] == 200
    assert proc.stop() == 0
    spool_dir = tmp_path / "c" / "spool"
    assert any(p.suffix == ".seg" and p.stat().st_size > 0 for p in spool_dir.iterdir())  # the spans went through it
    spool = Spool(str(spool_dir))
    assert spool.depth()[1] == 0 and spool.intent is None
    spool.close()
    proc.start()
    assert proc.count("otel_traces") == 100
    proc.stop()
