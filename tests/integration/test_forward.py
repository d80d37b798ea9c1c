"""Forwarding: a collector passes every accepted request on to another OTLP/gRPC endpoint
(here a second real collector), retries while it is down, and never lets it hold up storage."""

from __future__ import annotations

import re
import urllib.request

from tests.bench.scenarios import Scenario, requests, send
from tests.integration.collector_proc import CollectorProcess


def metric(collector: CollectorProcess, name: str) -> float:
    with urllib.request.urlopen(collector.api + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(rf"^modeltrace_{name}(?:_total)? ([0-9.e+]+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def test_a_down_target_is_retried_across_a_restart_and_never_blocks_storage(tmp_path):
    target = CollectorProcess(str(tmp_path / "target"), "analysis.enabled=false")  # ports chosen, not started
    source = CollectorProcess(
        str(tmp_path / "source"),
        f"forward.endpoint=http://127.0.0.1:{target.grpc_port}",
        "forward.timeout_seconds=2",
        "analysis.enabled=false",
    ).start()
    try:
        sc = Scenario("control", 1, "fwd", 1_790_000_000_000_000_000, baseline_minutes=10, fault_minutes=0)
        bodies = requests(sc, spans_per_request=200)
        spans = 4 * sc.baseline_minutes * sc.calls_per_minute
        send(source.grpc_endpoint, bodies)  # the target is down: the export still succeeds at once
        source.wait_stored("otel_traces", spans)
        source.wait_until(lambda: metric(source, "forward_retries") >= 1, what="a forwarding retry")
        assert metric(source, "forward_sent_requests") == 0
        # the source restarts while the target is still down: the queue is on disk and survives
        assert source.stop() == 0
        source.start()
        assert metric(source, "forward_queue_requests") == len(bodies)
        target.start()  # the target comes up: the queued requests arrive
        try:
            target.wait_stored("otel_traces", spans, timeout=90)
            source.wait_until(lambda: metric(source, "forward_sent_requests") == len(bodies), what="all forwarded")
            source.wait_until(lambda: metric(source, "forward_queue_requests") == 0, what="an empty queue")
            assert target.count("otel_traces") == spans
            assert metric(source, "forward_dropped_requests") == 0
            # and what arrives later goes straight through, the same spans on both sides
            later = Scenario("control", 2, "fwd-later", 1_790_000_000_000_000_000, baseline_minutes=2, fault_minutes=0)
            send(source.grpc_endpoint, requests(later))
            more = 4 * later.baseline_minutes * later.calls_per_minute
            target.wait_stored("otel_traces", spans + more)
            source.wait_stored("otel_traces", spans + more)
            ids = "SELECT groupArray(SpanId) FROM (SELECT SpanId FROM modeltrace.otel_traces ORDER BY SpanId)"
            assert source.sql(ids) == target.sql(ids)
        finally:
            target.stop()
    finally:
        assert source.stop() == 0
