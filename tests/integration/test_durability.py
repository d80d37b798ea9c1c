"""Acknowledged spans survive kill -9; a full spool pushes back with retryable errors."""

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
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers)


def test_every_acknowledged_span_survives_kill_9_exactly_once(tmp_path):
    proc = CollectorProcess(str(tmp_path / "c")).start()
    acked: list[int] = []
    stop = threading.Event()

    def client():
        sid = 1
        while not stop.is_set():
            ids = list(range(sid, sid + 20))
            sid += 20
            try:
                status, _ = send(proc.http_endpoint, request_with(ids))
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.01)
                continue
            if status == 200:
                acked.extend(ids)

    threads = [threading.Thread(target=client) for _ in range(1)]
    for t in threads:
        t.start()
    proc.wait_until(lambda: len(acked) >= 2000, what="acknowledged spans")
    proc.kill()  # SIGKILL mid-stream: nothing flushed, nothing shut down
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 2000

    proc.start()
    proc.wait_until(lambda: proc.get("/ready")[1].get("spool_records") == 0, what="the spool to drain")
    proc.wait_stored("otel_traces", len(acked))
    total, distinct = proc.sql("SELECT count(), uniqExact(SpanId) FROM modeltrace.otel_traces")[0]
    assert total == distinct  # no span stored twice
    stored = {int(r[0], 16) for r in proc.sql("SELECT SpanId FROM modeltrace.otel_traces")}
    assert set(acked) <= stored
    assert proc.count("ml_predictions") == total
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
