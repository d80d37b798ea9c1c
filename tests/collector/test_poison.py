"""Rows ClickHouse refuses never stall the writer: bisected out, dead-lettered, replayable (real chDB)."""

import os

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from modeltrace_collector.metrics import Metrics
from modeltrace_collector.pipeline.deadletter import DeadLetter, DeadLetters, otlp_json
from modeltrace_collector.pipeline.spool import Spool
from modeltrace_collector.pipeline.writer import Writer
from modeltrace_collector.storage.errors import REFUSED, RETRY, UNSURE, StorageError, classify
from tests.collector.spans import make_requests
from tests.waiting import wait_for


def count(store, table, where="1"):
    return store.query(f"SELECT count() FROM {store.database}.{table} WHERE {where}").result_rows[0][0]


def request_with(payload: bytes, **changes) -> bytes:
    """The request with its ``index``-th span changed (times, name) past the receivers' checks."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    span = request.resource_spans[0].scope_spans[0].spans[changes.pop("index", 0)]
    for key, value in changes.items():
        setattr(span, key, value)
    return request.SerializeToString()


def drain(spool, store, tmp_path, **kw):
    metrics = Metrics()
    letters = DeadLetters(str(tmp_path / "deadletter"))
    writer = Writer(spool, store, metrics, max_delay=0.05, backoff_max=0.2, dead_letters=letters, **kw)
    writer.start()
    # a bisection takes many inserts: about 20 s on ClickHouse 24.8 through its test adapter
    assert wait_for(lambda: spool.depth()[1] == 0, timeout=120), writer.last_error
    writer.shutdown()
    return writer, letters, metrics


def test_a_time_past_2262_is_dead_lettered_and_every_other_span_is_stored(tmp_path, store):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    payloads = make_requests(4, 25)
    # The receivers refuse such a span; a spool written by an older version may still hold one.
    payloads[1] = request_with(payloads[1], index=7, name="poison", start_time_unix_nano=18446744073709551000)
    for payload in payloads:
        spool.append(payload)
    _writer, letters, metrics = drain(spool, store, tmp_path)
    assert count(store, "otel_traces") == 99
    assert count(store, "otel_traces", "SpanName = 'poison'") == 0
    assert count(store, "ml_predictions") == 99
    entries = letters.entries()
    assert len(entries) == 1
    entry = entries[0]
    assert (entry.table, entry.cause, entry.span_name) == ("otel_traces", "DataError", "poison")
    assert metrics.get("dead_letters", cause="DataError") == 1
    assert metrics.get("spans_stored") == 99
    # The span itself is kept, with its resource and scope, as a one-span OTLP request.
    one = ExportTraceServiceRequest()
    one.ParseFromString(entry.request)
    span = one.resource_spans[0].scope_spans[0].spans[0]
    assert (span.name, span.start_time_unix_nano) == ("poison", 18446744073709551000)
    assert span.span_id.hex() == entry.span_id
    resource = {kv.key: kv.value.string_value for kv in one.resource_spans[0].resource.attributes}
    assert resource["service.name"] == "fraud-api"
    exported = otlp_json(entry.request)
    assert exported["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["spanId"] == entry.span_id
    # And new data keeps flowing after it.
    spool.append(make_requests(1, 5, seed=9)[0])
    drain(spool, store, tmp_path)
    assert count(store, "otel_traces") == 104


def test_rows_the_server_refuses_are_bisected_out_exactly(tmp_path, store):
    # A table constraint: a refusal made by the ClickHouse server itself, not the driver.
    store.client.command(
        f"ALTER TABLE {store.database}.otel_traces ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"
    )
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    payloads = make_requests(5, 20)
    poisoned = {(0, 3), (2, 0), (2, 19), (4, 10)}
    for i, payload in enumerate(payloads):
        for r, index in poisoned:
            if r == i:
                payload = request_with(payload, index=index, name="poison")
        spool.append(payload)
    writer, letters, metrics = drain(spool, store, tmp_path, batch_spans=10_000)
    assert count(store, "otel_traces") == 96
    assert count(store, "ml_predictions") == 96
    assert count(store, "otel_traces_trace_id_ts") == 96
    entries = letters.entries()
    assert sorted(e.span_name for e in entries) == ["poison"] * 4
    assert {e.cause for e in entries} == {"VIOLATED_CONSTRAINT"}
    assert metrics.get("dead_letters", cause="VIOLATED_CONSTRAINT") == 4
    assert writer.healthy and writer.failing_since is None


def test_a_view_that_fails_after_the_table_took_the_rows_does_not_double_them(tmp_path, store):
    # A constraint on a view's target table: otel_traces stores the block, then the view fails.
    store.client.command(
        f"ALTER TABLE {store.database}.ml_predictions ADD CONSTRAINT no_poison CHECK ModelName != 'poison'"
    )
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    payloads = make_requests(3, 10)
    poisoned = ExportTraceServiceRequest()
    poisoned.ParseFromString(payloads[1])
    for kv in poisoned.resource_spans[0].scope_spans[0].spans[4].attributes:
        if kv.key == "ml.model.name":
            kv.value.string_value = "poison"
    spool.append(payloads[0])
    spool.append(poisoned.SerializeToString())
    spool.append(payloads[2])
    writer, letters, metrics = drain(spool, store, tmp_path, batch_spans=10_000)
    assert count(store, "otel_traces") == 30
    assert store.query(f"SELECT uniqExact(SpanId) FROM {store.database}.otel_traces").result_rows == [(30,)]
    assert count(store, "otel_traces_trace_id_ts") == 30
    # The view has no rows for the block it refused; every other view has them all.
    skipped = metrics.get("view_rows_skipped", cause="VIOLATED_CONSTRAINT")
    assert skipped > 0
    assert count(store, "ml_predictions") == 30 - skipped
    assert count(store, "ml_features") == 60
    assert letters.entries() == []
    assert metrics.get("spans_stored") == 30
    assert writer.healthy
    # Later batches fill the view as usual.
    spool.append(make_requests(1, 5, seed=5)[0])
    drain(spool, store, tmp_path)
    assert count(store, "ml_predictions") == 35 - skipped


def test_a_replay_after_a_crash_mid_bisection_stores_each_span_once(tmp_path, store):
    store.client.command(
        f"ALTER TABLE {store.database}.otel_traces ADD CONSTRAINT no_poison CHECK SpanName != 'poison'"
    )
    path = str(tmp_path / "spool")
    spool = Spool(path, fsync="always")
    payloads = make_requests(2, 20)
    payloads[1] = request_with(payloads[1], index=5, name="poison")
    for payload in payloads:
        spool.append(payload)
    letters = DeadLetters(str(tmp_path / "deadletter"))
    writer = Writer(spool, store, dead_letters=letters, max_delay=0.05)
    pending = writer._collect(spool.committed)
    assert writer._write(pending)
    assert count(store, "otel_traces") == 39
    # Run the same batch again, as a replay of the spool's intent after a crash would.
    spool.close()
    reopened = Spool(path, fsync="always")
    writer = Writer(reopened, store, dead_letters=letters, max_delay=0.05)
    again = writer._batch_between(pending.start, pending.end)
    again.after_crash = True  # as the replay of the spool's intent at a start marks it
    assert again.token == pending.token
    assert writer._write(again)
    assert count(store, "otel_traces") == 39
    assert count(store, "ml_predictions") == 39
    assert len(letters.entries()) == 1  # the same refused span is not held twice


def test_unknown_errors_are_retried_then_bisected(tmp_path, store):
    class Unsure(Exception):
        pass

    class Picky:
        """Fails any block holding span 'odd' with an error of no known kind."""

        def __init__(self, inner):
            self.inner, self.calls = inner, 0

        def insert(self, table, columns, names, token, **kw):
            self.calls += 1
            if "odd" in columns[names.index("SpanName")]:
                raise StorageError("odd", classify(Unsure("something new")))
            return self.inner.insert(table, columns, names, token, **kw)

    assert classify(Unsure("x")).kind == UNSURE
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    payloads = make_requests(2, 8)
    payloads[0] = request_with(payloads[0], index=2, name="odd")
    for payload in payloads:
        spool.append(payload)
    picky = Picky(store)
    _writer, letters, _ = drain(spool, picky, tmp_path, unsure_retries=2, unsure_row_seconds=0.5)
    assert count(store, "otel_traces") == 15
    assert [e.cause for e in letters.entries()] == ["Unsure"]


def test_storage_down_is_waited_out_not_dead_lettered(tmp_path, store):
    class Down:
        def __init__(self, inner, failures):
            self.inner, self.failures = inner, failures

        def insert(self, *args, **kw):
            if self.failures:
                self.failures -= 1
                raise StorageError("down", classify(ConnectionRefusedError(111, "Connection refused")))
            return self.inner.insert(*args, **kw)

    spool = Spool(str(tmp_path / "spool"), fsync="never")
    for payload in make_requests(2, 10):
        spool.append(payload)
    _writer, letters, metrics = drain(spool, Down(store, failures=6), tmp_path)
    assert count(store, "otel_traces") == 20
    assert letters.entries() == []
    assert metrics.get("storage_errors") == 6


def test_a_failing_cursor_write_is_retried_and_the_writer_survives(tmp_path, store, monkeypatch):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    for payload in make_requests(2, 10):
        spool.append(payload)
    real_save = spool._save_cursor
    failures = {"n": 4}

    def disk_full():
        if failures["n"]:
            failures["n"] -= 1
            raise OSError(28, "No space left on device")
        real_save()

    monkeypatch.setattr(spool, "_save_cursor", disk_full)
    metrics = Metrics()
    writer = Writer(spool, store, metrics, max_delay=0.05, backoff_max=0.1)
    writer.start()
    assert wait_for(lambda: spool.depth()[1] == 0)
    assert writer.alive()
    writer.shutdown()
    assert metrics.get("spool_errors") == 4
    assert count(store, "otel_traces") == 20


def test_failures_are_classified_once():
    from clickhouse_connect.driver.exceptions import DatabaseError, DataError, OperationalError

    def kind(exc):
        return classify(exc).kind, classify(exc).cause

    assert kind(OperationalError("connection refused")) == (RETRY, "OperationalError")
    assert kind(DataError("Unable to create native array")) == (REFUSED, "DataError")
    assert kind(DatabaseError("Code: 252. DB::Exception: Too many parts (300)", code=252)) == (RETRY, "TOO_MANY_PARTS")
    assert kind(DatabaseError("Code: 252. DB::Exception: Too many partitions for single INSERT block", code=252)) == (
        REFUSED,
        "TOO_MANY_PARTITIONS",
    )
    total = "Code: 241. DB::Exception: (total) memory limit exceeded: would use 1.2 GiB (MEMORY_LIMIT_EXCEEDED)"
    assert kind(DatabaseError(total)) == (RETRY, "MEMORY_LIMIT_EXCEEDED")
    assert kind(DatabaseError("Code: 241. DB::Exception: Memory limit exceeded (MEMORY_LIMIT_EXCEEDED)")) == (
        UNSURE,
        "MEMORY_LIMIT_EXCEEDED",
    )
    assert kind(DatabaseError("Code: 469. DB::Exception: Constraint violated (VIOLATED_CONSTRAINT)")) == (
        REFUSED,
        "VIOLATED_CONSTRAINT",
    )
    assert kind(StorageError("ClickHouse is down")) == (RETRY, "StorageError")
    # out of file descriptors (the embedded engine's epoll, a socket): the process, not the rows
    epoll = "Code: 573. DB::Exception: Cannot add socket to epoll, errno: 24, strerror: Too many open files"
    assert kind(DatabaseError(epoll)) == (RETRY, "EPOLL_ERROR")
    assert kind(DatabaseError("Code: 1001. DB::Exception: std::exception: Too many open files"))[0] == RETRY


def letter(cause="X", **kw):
    return DeadLetter(table="otel_traces", cause=cause, message="m", time_ms=1, request=b"\x0a\x00" * 200, **kw)


def test_dead_letter_store_is_bounded_and_counts_what_it_drops(tmp_path):
    dropped = []
    letters = DeadLetters(str(tmp_path / "dl"), max_bytes=64 << 10, on_drop=dropped.append)
    for i in range(400):
        letters.add([letter(cause=f"c{i % 3}")])
    assert letters.bytes() <= 64 << 10
    assert letters.total() + letters.dropped == 400
    assert sum(dropped) == letters.dropped > 0
    assert sum(letters.counts().values()) == letters.total()
    # What is held survives a restart, counts included; a line torn by a crash is cut.
    last = sorted(os.listdir(tmp_path / "dl"))[-1]
    with open(tmp_path / "dl" / last, "a", encoding="utf-8") as f:
        f.write('{"table": "otel_tr')
    reopened = DeadLetters(str(tmp_path / "dl"), max_bytes=64 << 10)
    assert reopened.total() == letters.total()
    reopened.add([letter(cause="after")])
    assert reopened.counts()["after"] == 1
    assert DeadLetters(str(tmp_path / "dl"), max_bytes=64 << 10).total() == letters.total() + 1


def test_dead_letters_are_removed_by_id(tmp_path):
    letters = DeadLetters(str(tmp_path / "dl"))
    held = [letter(cause="a"), letter(cause="b"), letter(cause="a")]
    assert letters.add(held) == 3
    assert letters.add(held[:1]) == 0  # already held
    assert letters.remove([held[0].id, held[1].id]) == 2
    assert [e.id for e in letters.entries()] == [held[2].id]
    assert letters.counts() == {"a": 1}
