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


def crash_after_storing(tmp_path, store):
    """A batch stored, then the process dies before the spool hears of it: the spool's path and
    what each table holds."""
    path = str(tmp_path / "spool")
    spool = Spool(path, fsync="always")
    for payload in make_varied_requests(3, 10):
        spool.append(payload)
    writer = Writer(spool, CrashingStore(store), max_delay=0.05)
    with pytest.raises(Crash):
        writer._write(writer._collect(spool.committed))
    spool.close()
    return path, stored(store)


def delete(store, table, where="1"):
    """Rows gone, the deduplication log untouched (a lightweight delete, applied at once)."""
    store.query(f"DELETE FROM {store.database}.{table} WHERE {where}")


def replay(path, store):
    reopened = Spool(path, fsync="always")
    assert reopened.intent is not None
    writer = Writer(reopened, store, max_delay=0.05)
    writer.start()
    try:
        assert wait_for(lambda: reopened.depth()[1] == 0, 60.0)
    finally:
        writer.shutdown()


def test_a_batch_replayed_after_a_crash_adds_no_row_to_any_table(tmp_path, store):
    path, first = crash_after_storing(tmp_path, store)  # stored, but the spool never hears of it
    # 30 calls, 6 of them failed; 24 with ground truth
    assert first["otel_traces"] == 54 and first["ml_predictions"] == 30 and first["ml_actuals"] == 24
    assert first["ml_latency_minutes"] == (30, 6)
    assert all(first.values()), first
    replay(path, store)  # the same batch, under the same token
    assert stored(store) == first


def test_rows_a_crash_lost_after_their_token_was_logged_are_stored_on_replay(tmp_path, store):
    # A kill -9 of the embedded engine between its deduplication log and the part's rename
    # leaves the token known and the rows nowhere. Deleting the stored rows (the log keeps the
    # tokens, of the table's block and of each view's) leaves storage in that state.
    path, first = crash_after_storing(tmp_path, store)
    for table in STORED:
        delete(store, table)
    emptied = stored(store)
    assert not any(v for v in emptied.values() if v != (0, 0)), emptied
    replay(path, store)
    assert stored(store) == first  # every table whole again, nothing twice


def test_a_second_crash_during_that_replay_replays_the_same_new_token(tmp_path, store):
    path, first = crash_after_storing(tmp_path, store)
    for table in STORED:
        delete(store, table)
    reopened = Spool(path, fsync="always")
    writer = Writer(reopened, CrashingStore(store), max_delay=0.05)
    interrupted = writer._batch_between(*reopened.intent)
    interrupted.after_crash = True
    with pytest.raises(Crash):
        writer._write(interrupted)  # stored under a new token, then the process dies again
    reopened.close()
    assert stored(store) == first
    assert Spool(path, fsync="always").attempt == 1  # the new token is on record
    replay(path, store)
    assert stored(store) == first  # the views kept one copy too


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
