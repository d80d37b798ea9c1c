"""Large requests are decoded one at a time; the others are refused at once (to retry), so no
worker thread waits at the gate while small requests queue behind it."""

from __future__ import annotations

import threading
import time

import grpc
import pytest

from modeltrace_collector.receivers import ingest
from modeltrace_collector.receivers.ingest import LARGE_DECODE_BYTES, DecodeGate, Overloaded


def test_a_second_large_decode_is_refused_at_once_and_small_ones_pass():
    gate = DecodeGate(slots=1, memory_bound=0)
    inside, leave = threading.Event(), threading.Event()

    def hold():
        with gate.admit(LARGE_DECODE_BYTES):
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(Overloaded, match="another large request"), gate.admit(LARGE_DECODE_BYTES):
            pass
        with gate.admit(LARGE_DECODE_BYTES - 1):  # small: never waits for the gate
            pass
    finally:
        leave.set()
        holder.join()
    with gate.admit(LARGE_DECODE_BYTES):  # free again
        pass


def test_past_its_memory_bound_the_gate_refuses_large_decodes(monkeypatch):
    gate = DecodeGate(slots=1, memory_bound=1 << 20)
    monkeypatch.setattr(ingest, "_resident_bytes", lambda: 2 << 20)
    with pytest.raises(Overloaded, match="holds more than 1 MiB"), gate.admit(LARGE_DECODE_BYTES):
        pass
    with gate.admit(1000):
        pass


def test_grpc_requests_past_the_held_bytes_are_refused_with_retry_info():
    """Requests that arrived wait for a worker within a bound of bytes; past it, UNAVAILABLE with
    RetryInfo at once, as OTLP asks for throttling."""
    from google.rpc import error_details_pb2, status_pb2

    from modeltrace_collector.metrics import Metrics
    from modeltrace_collector.receivers.ingest import Accepted
    from modeltrace_collector.receivers.otlp_grpc import GrpcReceiver

    release = threading.Event()

    class SlowDoor:
        metrics = Metrics()

        def accept_raw(self, raw):
            release.wait(20)
            return Accepted(0, 0, "")

    receiver = GrpcReceiver("127.0.0.1:0", SlowDoor(), max_request_bytes=1000, workers=1, max_concurrent=2)
    receiver.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{receiver.port}")
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=lambda b: b, response_deserializer=lambda b: b,
    )  # fmt: skip
    try:
        held = [export.future(b"\x0a\x00" * 400, timeout=60) for _ in range(2)]  # 1,600 of the 2,000 bytes
        deadline = time.monotonic() + 30
        while receiver._held < 1600 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert receiver._held == 1600  # both arrived: one runs, one waits for the worker
        with pytest.raises(grpc.RpcError) as info:
            export(b"\x0a\x00" * 400, timeout=30)  # 800 more would pass the bound
        refused = info.value
        assert refused.code() == grpc.StatusCode.UNAVAILABLE
        details = dict(refused.trailing_metadata())["grpc-status-details-bin"]
        status = status_pb2.Status.FromString(details)
        retry = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(retry) and retry.retry_delay.seconds > 0
    finally:
        release.set()
        for call in held:
            call.result(timeout=30)
        channel.close()
        receiver.shutdown(5)
