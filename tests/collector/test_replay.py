"""A batch stored again under its token, as after a crash, adds nothing to any table: not to
the one it is inserted into, nor to any table a materialized view fills from it."""

import pytest

from modeltrace_collector.pipeline.spool import Spool
from modeltrace_collector.pipeline.writer import Writer
from tests.collector.spans import make_varied_requests
from tests.collector.test_writer import Crash, CrashingStore
from tests.waiting import wait_for

# What a replay would double in each table the writer's inserts reach.
STORED = {
    "otel_traces": "count()",
    "otel_traces_trace_id_ts": "count()",
    "ml_predictions": "count()",
    "ml_features": "count()",
    "ml_hotspots": "count()",
    "ml_actuals": "count()",
    "ml_latency_minutes": "tuple(sum(Calls), sum(Errors))",
}


def stored(store):
    return {
        table: store.query(f"SELECT {what} FROM {store.database}.{table}").result_rows[0][0]
        for table, what in STORED.items()
    }


def test_a_batch_replayed_after_a_crash_adds_no_row_to_any_table(tmp_path, store):
    path = str(tmp_path / "spool")
    spool = Spool(path, fsync="always")
    for payload in make_varied_requests(3, 10):
        spool.append(payload)
    writer = Writer(spool, CrashingStore(store), max_delay=0.05)
    with pytest.raises(Crash):
        writer._write(writer._collect(spool.committed))  # stored, but the spool never hears of it
    spool.close()
    first = stored(store)
    # 30 calls, 6 of them failed; 24 with ground truth
    assert first["otel_traces"] == 54 and first["ml_predictions"] == 30 and first["ml_actuals"] == 24
    assert first["ml_latency_minutes"] == (30, 6)
    assert all(first.values()), first

    reopened = Spool(path, fsync="always")
    assert reopened.intent is not None  # the same batch, under the same token
    writer = Writer(reopened, store, max_delay=0.05)
    writer.start()
    try:
        assert wait_for(lambda: reopened.depth()[1] == 0, 60.0)
    finally:
        writer.shutdown()
    assert stored(store) == first


# Tables the analysis and the API insert into directly, each with its own token.
DIRECT = {
    "ml_references": {"ReferenceId": "r1", "ModelName": "m", "Feature": "x", "NumValue": [1.0, 2.0]},
    "ml_findings": {"FindingId": "f1", "Kind": "drift", "ModelName": "m", "Subject": "input.x"},
    "ml_drift_scores": {"ModelName": "m", "Feature": "x", "Score": 0.3},
}


@pytest.mark.parametrize("table", sorted(DIRECT))
def test_rows_inserted_again_under_their_token_are_stored_once(store, table):
    row = DIRECT[table]
    for _ in range(2):
        store.insert(table, [[v] for v in row.values()], tuple(row), token=f"{table}-once")
    # no FINAL: a ReplacingMergeTree would show both copies until a merge
    assert store.query(f"SELECT count() FROM {store.database}.{table}").result_rows == [(1,)]
