"""Readiness tells the truth: a dead pipeline thread or a stuck writer makes /ready false, with the reason."""

import threading

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


def test_a_part_that_cannot_start_stops_the_parts_started_before_it(tmp_path):
    import socket
    import threading

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    grpc_port = free_port()
    busy = f"127.0.0.1:{taken.getsockname()[1]}"
    c = collector(tmp_path, **{"receivers.grpc": f"127.0.0.1:{grpc_port}", "api.listen": busy})
    before = {t.name for t in threading.enumerate()}
    try:
        try:
            c.start()
        except (OSError, RuntimeError, SystemExit) as exc:
            failure = exc
        else:
            raise AssertionError("the collector started on a port another socket holds")
        assert "in use" in str(failure), failure  # the API's port

        # what had started is stopped: the writer's threads, the gRPC receiver's port, the data directory
        def ours():
            names = (t.name for t in threading.enumerate())
            return sorted(n for n in names if n.startswith("modeltrace") and n not in before)

        wait_for(lambda: not ours())
        assert ours() == []
        assert c.spool is not None and c.spool.closed
        again = socket.socket()
        again.bind(("127.0.0.1", grpc_port))  # free again
        again.close()
        second = collector(tmp_path)  # the same data directory: its lock was released
        second.start()
        second.shutdown(drain_seconds=1)
    finally:
        taken.close()


def test_ready_is_the_health_of_every_part(tmp_path):
    c = collector(tmp_path, **{"analysis.enabled": "true", "analysis.interval_seconds": "3600"})
    c.start()
    try:
        assert c.scheduler is not None and c.scheduler in c.parts
        assert c.readiness()[1].get("reasons", []) == ["storage is unreachable"]
        # a part whose thread died makes the collector unready, naming the part
        c.scheduler._thread = threading.Thread(target=lambda: None)
        c.scheduler._thread.start()
        c.scheduler._thread.join()
        ready, detail = c.readiness()
        assert not ready
        assert "the analysis scheduler thread has died; see the log" in detail["reasons"]
    finally:
        c.shutdown(drain_seconds=1)
