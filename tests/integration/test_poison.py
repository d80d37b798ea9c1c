"""No input stops storage: poison spans, backfills, reset spools, a second collector and dead letters,
each against a real collector process."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from tests.integration.collector_proc import ROOT, CollectorProcess
from tests.otlp_receiver import free_port

pytestmark = pytest.mark.slow

DAY_NS = 86_400 * 10**9
BASE_NS = 1_760_000_000 * 10**9
LIMIT_NS = 4_294_967_295 * 10**9  # 2106-02-07T06:28:15Z, the last time every table holds


def span(sid, name="predict poison-test", start=None, duration=1_000_000, model="m", **fields):
    start = BASE_NS + sid if start is None else start
    return trace_pb2.Span(
        trace_id=(sid + 1).to_bytes(16, "big"),
        span_id=(sid + 1).to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=fields.pop("end", start + duration),
        attributes=[common_pb2.KeyValue(key="ml.model.name", value=common_pb2.AnyValue(string_value=model))],
        **fields,
    )


def request(spans):
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(
                resource=resource_pb2.Resource(
                    attributes=[
                        common_pb2.KeyValue(key="service.name", value=common_pb2.AnyValue(string_value="poison-svc"))
                    ]
                ),
                scope_spans=[trace_pb2.ScopeSpans(spans=spans)],
            )
        ]
    )


def post(proc, body: bytes, ctype="application/x-protobuf"):
    r = urllib.request.Request(proc.http_endpoint + "/v1/traces", data=body, headers={"Content-Type": ctype})
    with urllib.request.urlopen(r, timeout=10) as response:
        return response.status, response.read()


def metric(proc, name):
    with urllib.request.urlopen(proc.api + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def test_times_past_what_the_tables_hold_are_refused_per_span_and_storage_keeps_flowing(collector):
    # The case a fuzzer found: OTLP/JSON with a start time past 2^63 ns.
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "late",
                                "startTimeUnixNano": "18446744073709551000",
                                "endTimeUnixNano": "18446744073709551000",
                            },
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b175",
                                "name": "fine",
                                "startTimeUnixNano": "1760000000000000000",
                                "endTimeUnixNano": "1760000000100000000",
                            },
                        ]
                    }
                ]
            }
        ]
    }
    status, reply = post(collector, json.dumps(body).encode(), "application/json")
    assert status == 200
    partial = json.loads(reply)["partialSuccess"]
    assert partial["rejectedSpans"] == "1"
    assert "after 2106-02-07T06:28:15Z" in partial["errorMessage"]
    # Over gRPC: an event time, an end time and a start time past the limit, and a start time
    # further ahead of the collector's clock than receivers.max_future_seconds (a day).
    channel = grpc.insecure_channel(f"127.0.0.1:{collector.grpc_port}")
    stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    now = time.time_ns()
    answer = stub.Export(
        request(
            [
                span(10, events=[trace_pb2.Span.Event(time_unix_nano=2**64 - 1, name="e")]),
                span(11, end=2**63),
                span(12, start=LIMIT_NS + 1, end=LIMIT_NS + 2),
                span(13, start=now + 2 * DAY_NS),  # a clock two days ahead: refused
                span(14, end=BASE_NS),  # ends before it starts: stored with a duration of 0, counted
                span(15, start=now + 3600 * 10**9),  # an hour ahead: clock skew, stored
            ]
        ),
        timeout=10,
    )
    assert answer.partial_success.rejected_spans == 4
    assert "further ahead of the collector's clock" in answer.partial_success.error_message
    channel.close()
    # What was accepted is stored, and so is everything sent afterwards.
    post(collector, request([span(20 + i) for i in range(5)]).SerializeToString())
    collector.wait_stored("otel_traces", 8)
    assert collector.count("otel_traces") == 8
    assert collector.sql("SELECT Duration FROM modeltrace.otel_traces WHERE SpanId = {s:String}", s=f"{15:016x}") == [
        [0]
    ]
    assert metric(collector, 'modeltrace_spans_refused_total{reason="time_out_of_range"}') == 4
    assert metric(collector, 'modeltrace_spans_refused_total{reason="time_in_future"}') == 1
    assert metric(collector, 'modeltrace_spans_corrected_total{reason="end_before_start"}') == 1
    assert metric(collector, "modeltrace_dead_letters_total") == 0


def test_ml_json_too_big_for_the_views_is_kept_aside_and_the_client_told(tmp_path):
    proc = CollectorProcess(
        str(tmp_path / "c"), "receivers.max_ml_json_bytes=20000", "receivers.max_future_seconds=0"
    ).start()
    try:
        # Without a bound on clock skew, the last time the tables hold is stored.
        assert post(proc, request([span(9, start=LIMIT_NS - 10, end=LIMIT_NS)]).SerializeToString())[0] == 200
        big = span(1)
        big.attributes.append(
            common_pb2.KeyValue(
                key="ml.profile.hotspots",
                value=common_pb2.AnyValue(string_value=json.dumps([{"function": "f", "self_ms": 1}] * 2000)),
            )
        )
        small = span(2)
        small.attributes.append(
            common_pb2.KeyValue(
                key="ml.profile.hotspots", value=common_pb2.AnyValue(string_value='[{"function": "g", "self_ms": 2}]')
            )
        )
        status, reply = post(proc, request([big, small]).SerializeToString())
        answer = trace_service_pb2.ExportTraceServiceResponse.FromString(reply)
        assert status == 200 and answer.partial_success.rejected_spans == 0
        assert "1 span(s) stored with an ml.* JSON attribute over 20000 bytes" in answer.partial_success.error_message
        proc.wait_stored("otel_traces", 3)
        proc.wait_stored("ml_hotspots", 1)
        kept = proc.sql(
            "SELECT mapContains(SpanAttributes, 'ml.profile.hotspots.oversize'), "
            "length(SpanAttributes['ml.profile.hotspots.oversize']) FROM modeltrace.otel_traces "
            "WHERE SpanId != {s:String} ORDER BY SpanId",
            s=f"{10:016x}",
        )
        assert kept[0][0] == 1 and kept[0][1] > 20000 and kept[1] == [0, 0]
        assert proc.sql("SELECT Function FROM modeltrace.ml_hotspots") == [["g"]]
        assert metric(proc, 'modeltrace_spans_corrected_total{reason="ml_json_too_large"}') == 1
    finally:
        proc.stop()


def test_a_backfill_over_many_days_is_stored_in_one_request(collector):
    spans = [span(i, start=BASE_NS - i * DAY_NS) for i in range(150)]
    status, _ = post(collector, request(spans).SerializeToString())
    assert status == 200
    collector.wait_stored("otel_traces", 150)
    collector.wait_stored("ml_predictions", 150)
    days = collector.sql("SELECT uniqExact(toDate(Timestamp)) FROM modeltrace.ml_predictions")[0][0]
    assert days == 150
    post(collector, request([span(1000)]).SerializeToString())
    collector.wait_stored("otel_traces", 151)


def test_a_reset_spool_over_kept_data_loses_nothing(tmp_path):
    proc = CollectorProcess(str(tmp_path / "c")).start()
    try:
        for r in range(3):
            post(proc, request([span(r * 10 + i) for i in range(10)]).SerializeToString())
        proc.wait_stored("otel_traces", 30)
    finally:
        proc.stop()
    # First aid a user might try: delete the spool, keep ClickHouse's data.
    shutil.rmtree(os.path.join(proc.data_dir, "spool"))
    proc.start()
    try:
        for r in range(3):
            post(proc, request([span(1000 + r * 10 + i) for i in range(10)]).SerializeToString())
        proc.wait_stored("otel_traces", 60, timeout=30)
        proc.wait_stored("ml_predictions", 60)  # the views' rows land just after the span rows
        assert proc.count("otel_traces") == 60
        assert proc.count("ml_predictions") == 60
        assert metric(proc, "modeltrace_spans_stored_total") == 30
    finally:
        proc.stop()


def test_a_second_collector_on_the_same_store_stores_its_own_spans(tmp_path):
    store = f"chdb://{tmp_path / 'shared-chdb'}"
    first = CollectorProcess(str(tmp_path / "a"), dsn=store).start()
    try:
        for r in range(2):
            post(first, request([span(r * 10 + i) for i in range(10)]).SerializeToString())
        first.wait_stored("otel_traces", 20)
    finally:
        first.stop()
    # chDB serves one process at a time: the second collector follows the first.
    second = CollectorProcess(str(tmp_path / "b"), dsn=store).start()
    try:
        for r in range(2):
            post(second, request([span(500 + r * 10 + i) for i in range(10)]).SerializeToString())
        second.wait_stored("otel_traces", 40, timeout=30)
        second.wait_stored("ml_predictions", 40)
        assert second.count("otel_traces") == 40
        assert second.count("ml_predictions") == 40
    finally:
        second.stop()


def run_on_store(chdb_path: str, sql: str) -> None:
    """Run DDL on a stopped collector's embedded store (chDB opens a directory in one process at a time)."""
    script = f"""
        import clickhouse_connect
        client = clickhouse_connect.get_client(dsn="chdb://{chdb_path}")
        client.command({sql!r})
        client.close()
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def cli(proc, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "MODELTRACE_"))}
    env["PYTHONPATH"] = ROOT
    done = subprocess.run(
        [sys.executable, "-m", "modeltrace_collector", *args, "--api-url", proc.api],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_rows_clickhouse_refuses_go_to_dead_letters_and_come_back_by_replay(tmp_path):
    proc = CollectorProcess(str(tmp_path / "c"), "deadletter.unready_seconds=600").start()
    proc.stop()  # the schema exists now
    chdb_path = os.path.join(proc.data_dir, "chdb")
    # A constraint makes the server itself refuse some rows, as it would a row it cannot hold.
    run_on_store(chdb_path, "ALTER TABLE modeltrace.otel_traces ADD CONSTRAINT no_poison CHECK SpanName != 'poison'")
    proc.start(wait_ready=True)
    try:
        for r in range(3):
            spans = [span(r * 10 + i, name="poison" if i in (3, 7) and r != 1 else "fine") for i in range(10)]
            assert post(proc, request(spans).SerializeToString())[0] == 200
        proc.wait_stored("otel_traces", 26)
        proc.wait_until(lambda: metric(proc, "modeltrace_dead_letters_total") == 4, what="4 dead letters")
        post(proc, request([span(100 + i) for i in range(5)]).SerializeToString())
        proc.wait_stored("otel_traces", 31)
        assert proc.count("otel_traces", "SpanName = 'poison'") == 0
        # Health says so, with the reason; metrics count it by cause.
        status, ready = proc.get("/ready")
        assert status == 503
        assert any("dead-letter" in reason and "VIOLATED_CONSTRAINT (4)" in reason for reason in ready["reasons"])
        assert metric(proc, 'modeltrace_dead_letters_stored{cause="VIOLATED_CONSTRAINT"}') == 4
        assert metric(proc, "modeltrace_ready") == 0
        # Listed and exported by the CLI and the API.
        listed = json.loads(cli(proc, "deadletters", "list", "--json"))
        assert listed["total"] == 4 and listed["by_cause"] == {"VIOLATED_CONSTRAINT": 4}
        assert {e["span_name"] for e in listed["entries"]} == {"poison"}
        exported = [json.loads(line) for line in cli(proc, "deadletters", "export").splitlines()]
        assert len(exported) == 4
        for entry in exported:
            (one,) = entry["request"]["resourceSpans"][0]["scopeSpans"][0]["spans"]
            assert one["name"] == "poison" and one["spanId"] == entry["span_id"]
            assert entry["request"]["resourceSpans"][0]["resource"]["attributes"][0]["key"] == "service.name"
        # Replaying while the cause is still there refuses them again: they stay held.
        assert "replayed 4 of 4" in cli(proc, "deadletters", "replay", "--all")
        proc.wait_until(lambda: metric(proc, "modeltrace_dead_letters_stored") == 4, what="re-refused")
    finally:
        proc.stop()
    run_on_store(chdb_path, "ALTER TABLE modeltrace.otel_traces DROP CONSTRAINT no_poison")
    proc.start()
    try:
        # Two replays at once (a client retrying on a timeout): each dead letter goes back once.
        answers: list = []
        threads = [
            threading.Thread(target=lambda: answers.append(proc.post("/api/deadletters/replay", {"all": True})))
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(a["replayed"] for a in answers) == [0, 4]
        proc.wait_stored("otel_traces", 35, "1", timeout=30)
        proc.wait_stored("ml_predictions", 35)
        assert proc.count("otel_traces", "SpanName = 'poison'") == 4
        assert proc.count("ml_predictions") == 35
        assert json.loads(cli(proc, "deadletters", "list", "--json"))["total"] == 0
        assert proc.get("/ready")[0] == 200
    finally:
        proc.stop()


def test_ready_tells_a_stuck_writer_and_the_spool_exports_its_damage(tmp_path):
    down = f"http://127.0.0.1:{free_port()}"
    proc = CollectorProcess(str(tmp_path / "c"), "writer.stuck_seconds=1", dsn=down).start(wait_ready=False)
    try:
        for r in range(3):
            assert post(proc, request([span(r * 10 + i) for i in range(10)]).SerializeToString())[0] == 200

        def stuck():
            status, ready = proc.get("/ready")
            return status == 503 and any("retried one batch" in r for r in ready.get("reasons", []))

        proc.wait_until(stuck, timeout=30, what="a stuck writer reported")
    finally:
        proc.stop()
    # Damage one spooled record on disk; the others must still be stored and the damage counted.
    spool = os.path.join(proc.data_dir, "spool")
    (segment,) = [n for n in os.listdir(spool) if n.endswith(".seg")]
    with open(os.path.join(spool, segment), "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0xFF  # inside the second record's payload
        f.seek(0)
        f.write(data)
    proc.dsn = None
    proc.start()
    try:
        proc.wait_stored("otel_traces", 20)
        assert metric(proc, "modeltrace_spool_corrupt_records") >= 1
        assert proc.get("/ready")[0] == 200
    finally:
        proc.stop()


def test_a_second_collector_on_the_same_data_dir_refuses_to_start(tmp_path):
    first = CollectorProcess(str(tmp_path / "c")).start()
    try:
        second = CollectorProcess(str(tmp_path / "c"))
        with pytest.raises(RuntimeError) as info:
            second.start()
        assert "another collector (pid " in str(info.value) and "is running on data_dir" in str(info.value)
        assert second.proc.returncode == 1
        # The first one is unharmed.
        post(first, request([span(1)]).SerializeToString())
        first.wait_stored("otel_traces", 1)
    finally:
        first.stop()
