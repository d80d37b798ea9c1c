"""Spool to ClickHouse (real chDB): batches land once, through failures and crashes."""

import time

import pytest

from modeltrace_collector.pipeline.spool import Spool
from modeltrace_collector.pipeline.writer import Writer
from modeltrace_collector.storage.client import StorageError
from tests.collector.spans import make_requests
from tests.waiting import wait_for


def count(store, table):
    return store.query(f"SELECT count() FROM {store.database}.{table}").result_rows[0][0]


def run_writer(spool, store, **kw):
    writer = Writer(spool, store, max_delay=0.1, **kw)
    writer.start()
    return writer


def test_every_span_is_stored_with_its_ml_rows(tmp_path, store):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    for payload in make_requests(5, 20):
        spool.append(payload)
    writer = run_writer(spool, store)
    assert wait_for(lambda: spool.depth()[1] == 0)
    writer.shutdown()
    assert count(store, "otel_traces") == 100
    assert count(store, "ml_predictions") == 100
    assert count(store, "ml_features") == 200  # one input and one output row per span
    row = store.query(
        f"SELECT ServiceName, SpanKind, StatusCode, SpanAttributes['ml.model.name'], length(TraceId), "
        f"ResourceAttributes['host.name'] FROM {store.database}.otel_traces LIMIT 1"
    ).result_rows[0]
    assert row == ("fraud-api", "Internal", "Unset", "fraud", 32, "web-1")
    p = store.query(
        f"SELECT ModelName, ModelVersion, Framework, Operation, InputRows, InputColumns, OutputRows, HostName, "
        f"PredictionId = concat(TraceId, SpanId) FROM {store.database}.ml_predictions LIMIT 1"
    ).result_rows[0]
    assert p == ("fraud", "2", "sklearn", "predict", 1, 5, 1, "web-1", True)
    cells = store.query(
        f"SELECT length(NumFeature), NumFeature[1], length(CatFeature) FROM {store.database}.ml_features "
        "WHERE Side = 'input' LIMIT 1"
    ).result_rows[0]
    assert cells == (5, "f0", 0)
    trace_ids = store.query(f"SELECT uniqExact(TraceId) FROM {store.database}.otel_traces_trace_id_ts").result_rows
    assert trace_ids == [(100,)]


class FlakyStore:
    """Fails the first ``failures`` inserts, then passes through: storage that recovers."""

    def __init__(self, inner, failures):
        self.inner, self.failures, self.calls = inner, failures, 0

    def insert(self, *args, **kw):
        self.calls += 1
        if self.failures > 0:
            self.failures -= 1
            raise StorageError("ClickHouse is down")
        return self.inner.insert(*args, **kw)


def test_data_waits_in_the_spool_while_storage_fails_and_arrives_once(tmp_path, store):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    for payload in make_requests(4, 25):
        spool.append(payload)
    flaky = FlakyStore(store, failures=4)
    writer = run_writer(spool, flaky, backoff_max=0.2)
    assert wait_for(lambda: spool.depth()[1] == 0)
    writer.shutdown()
    assert flaky.calls > 4
    assert count(store, "otel_traces") == 100
    assert count(store, "ml_predictions") == 100


class Crash(BaseException):
    pass


class CrashingStore:
    """Stores a batch, then the process 'dies' before the spool records it as written."""

    def __init__(self, inner):
        self.inner = inner

    def insert(self, table, *args, **kw):
        self.inner.insert(table, *args, **kw)
        raise Crash()

    def __getattr__(self, name):  # its reads are the store's
        return getattr(self.inner, name)


def test_replay_after_a_crash_mid_batch_stores_each_span_once(tmp_path, store):
    path = str(tmp_path / "spool")
    spool = Spool(path, fsync="always")
    for payload in make_requests(3, 10):
        spool.append(payload)
    writer = Writer(spool, CrashingStore(store), max_delay=0.05)
    pending = writer._collect(spool.committed)
    with pytest.raises(Crash):
        writer._write(pending)  # the crash comes after the insert, before the commit
    assert count(store, "otel_traces") == 30
    spool.close()

    reopened = Spool(path, fsync="always")
    assert reopened.intent is not None
    writer = run_writer(reopened, store)
    assert wait_for(lambda: reopened.depth()[1] == 0)
    writer.shutdown()
    assert count(store, "otel_traces") == 30  # the replayed insert was deduplicated
    assert count(store, "ml_predictions") == 30  # and so were the rows its views derive


def test_malformed_ml_json_is_skipped_but_the_span_is_stored(tmp_path, store):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(make_requests(1, 1)[0])
    for kv in request.resource_spans[0].scope_spans[0].spans[0].attributes:
        if kv.key == "ml.input.sample":
            kv.value.string_value = '{"f0": [1, 2'
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    spool.append(request.SerializeToString())
    writer = run_writer(spool, store)
    assert wait_for(lambda: spool.depth()[1] == 0)
    writer.shutdown()
    assert count(store, "otel_traces") == 1
    assert store.query(f"SELECT count(), sum(MalformedFields) FROM {store.database}.ml_predictions").result_rows == [
        (1, 1)
    ]
    assert store.query(f"SELECT groupArray(Side) FROM {store.database}.ml_features").result_rows == [(["output"],)]


class SlowStore:
    """Takes ``delay`` seconds per batch, recording the spans of each insert into otel_traces."""

    def __init__(self, inner, delay):
        self.inner, self.delay, self.sizes = inner, delay, []

    def insert(self, table, columns, names, token, **kw):
        if table == "otel_traces":
            self.sizes.append(len(columns[0]))
            time.sleep(self.delay)
        return self.inner.insert(table, columns, names, token, **kw)


def test_batches_grow_while_an_insert_runs(tmp_path, store):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    payloads = make_requests(9, 10)
    slow = SlowStore(store, delay=1.0)
    writer = Writer(spool, slow, max_delay=0.05, batch_spans=10_000)
    writer.start()
    spool.append(payloads[0])
    assert wait_for(lambda: slow.sizes)  # the first insert is running
    for payload in payloads[1:]:  # arrive while it runs, each more than max_delay apart
        spool.append(payload)
        time.sleep(0.08)
    assert wait_for(lambda: spool.depth()[1] == 0)
    writer.shutdown()
    assert slow.sizes == [10, 80]  # one insert for all that came during the first
    assert count(store, "otel_traces") == 90


def test_a_stored_batch_is_freed_at_once(tmp_path, store):
    spool = Spool(str(tmp_path / "spool"), fsync="never")
    for payload in make_requests(2, 10):
        spool.append(payload)
    writer = Writer(spool, store, max_delay=0.05)
    pending = writer._collect(spool.committed)
    assert pending.batch.rows("otel_traces") == 20
    assert writer._write(pending)
    # Nothing of it is left for a lingering insert context to keep alive.
    assert all(len(column) == 0 for column in pending.batch.columns["otel_traces"])
    assert count(store, "otel_traces") == 20
