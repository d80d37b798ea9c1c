"""Readiness tells the truth: a dead pipeline thread or a stuck writer makes /ready false, with the reason."""

from modeltrace_collector.config import load
from modeltrace_collector.service import Collector
from tests.collector.spans import make_requests
from tests.otlp_receiver import free_port
from tests.waiting import wait_for


def collector(tmp_path, **settings):
    # A ClickHouse server that is not there: no embedded store is opened in this process.
    overrides = {
        "data_dir": str(tmp_path / "data"),
        "storage.dsn": f"http://127.0.0.1:{free_port()}",
        "receivers.grpc": "",
        "receivers.http": "",
        "api.listen": "",
        "jaeger.grpc": "",
        "analysis.enabled": "false",
        **settings,
    }
    return Collector(load(None, environ={}, overrides=overrides))


def test_a_dead_writer_thread_makes_the_collector_unready(tmp_path):
    c = collector(tmp_path)
    c.start()
    try:
        assert c.writer.alive()

        def explode(pending):
            raise RuntimeError("a bug in the writer")

        c.writer._write = explode
        c.spool.append(b"")  # an empty request is enough to wake the writer
        assert wait_for(lambda: not c.writer.alive())
        ready, detail = c.readiness()
        assert not ready
        assert "a writer thread has died; see the log" in detail["reasons"]
    finally:
        c.shutdown(drain_seconds=1)


def test_a_writer_stuck_on_one_batch_is_reported_with_its_error(tmp_path):
    c = collector(tmp_path, **{"writer.stuck_seconds": "0.5", "writer.max_delay_seconds": "0.05"})
    c.start()
    try:
        c.spool.append(make_requests(1, 1)[0])
        assert wait_for(lambda: c.writer.stuck_for() > 0.6)
        ready, detail = c.readiness()
        assert not ready
        (stuck,) = [r for r in detail["reasons"] if "retried one batch" in r]
        assert "OperationalError" in stuck or "Connection refused" in stuck or "cannot" in stuck
    finally:
        c.shutdown(drain_seconds=1)
