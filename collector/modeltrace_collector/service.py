"""The collector process: storage, spool, writer, receivers and the read API, started and
stopped in order. SIGTERM/SIGINT stop the receivers first, let the writer drain the spool,
then close storage; anything not yet written stays in the spool for the next start.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from .analysis.findings import Webhook
from .analysis.runner import Analyzer, Scheduler, settings_from_config
from .api.server import ApiServer
from .config import Config
from .jaeger.grpc_storage import JaegerStorageServer
from .jaeger.traces import TraceReader
from .metrics import Metrics
from .pipeline.forward import Forwarder
from .pipeline.spool import Spool
from .pipeline.writer import Writer
from .receivers.otlp_grpc import GrpcReceiver
from .receivers.otlp_http import HttpReceiver
from .storage.client import StorageError, resolve
from .storage.migrate import SchemaOptions
from .storage.store import Store

log = logging.getLogger("modeltrace.collector")


def make_store(config: Config) -> Store:
    storage = config["storage"]
    target = resolve(storage["dsn"], config.data_dir, storage["embedded_memory_mb"])
    options = SchemaOptions(
        database=storage["database"], ttl_days=storage["ttl_days"], cluster=storage["cluster"] or None
    )
    return Store(target, options)


class Collector:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.metrics = Metrics()
        self.store = make_store(config)
        self.spool: Spool | None = None
        self.writer: Writer | None = None
        self.receivers: list[Any] = []
        self.api: ApiServer | None = None
        drift, latency, rca = settings_from_config(config)
        analysis = config["analysis"]
        self.webhook = (
            Webhook(analysis["webhook_url"], timeout=analysis["webhook_timeout_seconds"])
            if analysis["webhook_url"]
            else None
        )
        self.analyzer = Analyzer(self.store.on("analysis"), drift, latency, rca, self.webhook)
        self.trace_reader = TraceReader(self.store.on("api"), max_trace_spans=config["jaeger"]["max_trace_spans"])
        self.jaeger: JaegerStorageServer | None = None
        self.forwarder: Forwarder | None = None
        self.scheduler: Scheduler | None = None
        self._stopped = threading.Event()

    def start(self) -> None:
        os.makedirs(self.config.data_dir, exist_ok=True)
        try:
            self.store.ensure_schema()
        except StorageError as exc:
            # Keep receiving: spans wait in the spool until storage answers.
            log.error("storage is unavailable, spooling until it returns: %s", exc)
        spool_cfg = self.config["spool"]
        self.spool = Spool(
            self.config.spool_dir,
            max_bytes=spool_cfg["max_bytes"],
            segment_bytes=spool_cfg["segment_bytes"],
            fsync=spool_cfg["fsync"],
        )
        spool = self.spool
        self.metrics.gauge("spool_bytes", lambda: spool.depth()[0])
        self.metrics.gauge("spool_records", lambda: spool.depth()[1])
        writer_cfg = self.config["writer"]
        self.writer = Writer(
            spool,
            self.store,
            self.metrics,
            batch_spans=writer_cfg["batch_spans"],
            max_delay=writer_cfg["max_delay_seconds"],
        )
        self.writer.start()
        fwd = self.config["forward"]
        if fwd["endpoint"]:
            self.forwarder = Forwarder(
                fwd["endpoint"],
                self.metrics,
                os.path.join(self.config.data_dir, "forward"),
                max_queue_bytes=fwd["max_queue_bytes"],
                timeout=fwd["timeout_seconds"],
                headers=fwd["headers"],
            )
            self.forwarder.start()
        forward = self.forwarder.submit if self.forwarder else None
        rcv = self.config["receivers"]
        if rcv["grpc"]:
            self.receivers.append(
                GrpcReceiver(rcv["grpc"], spool, self.metrics, rcv["max_request_bytes"], forward=forward)
            )
        if rcv["http"]:
            self.receivers.append(
                HttpReceiver(
                    rcv["http"],
                    spool,
                    self.metrics,
                    rcv["max_request_bytes"],
                    forward=forward,
                    read_timeout=rcv["read_timeout_seconds"],
                )
            )
        for receiver in self.receivers:
            receiver.start()
        if self.config["analysis"]["enabled"]:
            self.scheduler = Scheduler(self.analyzer, self.config["analysis"]["interval_seconds"])
            self.scheduler.start()
            sched = self.scheduler
            self.metrics.gauge("analysis_runs", lambda: sched.runs)
            self.metrics.gauge("analysis_failures", lambda: sched.failures)
        if self.config["api"]["listen"]:
            self.api = ApiServer(self.config["api"]["listen"], self)
            self.api.start()
        if self.config["jaeger"]["grpc"]:
            self.jaeger = JaegerStorageServer(self.config["jaeger"]["grpc"], self.trace_reader)
            self.jaeger.start()
        log.info(
            "collector ready: OTLP gRPC %s, OTLP HTTP %s, API %s, Jaeger storage gRPC %s, forwarding to %s, storage %s",
            rcv["grpc"] or "off",
            rcv["http"] or "off",
            self.config["api"]["listen"] or "off",
            self.config["jaeger"]["grpc"] or "off",
            fwd["endpoint"] or "nowhere",
            self.store.target.dsn,
        )

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        writer_ok = self.writer is not None and self.writer.healthy
        storage_ok = self.store.ping()
        detail = {
            "storage": "ok" if storage_ok else "unreachable",
            "writer": "ok" if writer_ok else (self.writer.last_error if self.writer else "not started"),
            "spool_bytes": self.spool.depth()[0] if self.spool else 0,
            "spool_records": self.spool.depth()[1] if self.spool else 0,
        }
        return storage_ok and writer_ok, detail

    def shutdown(self, drain_seconds: float = 30.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("shutting down: receivers first, then draining the spool")
        for receiver in self.receivers:
            receiver.shutdown()
        if self.forwarder is not None:
            self.forwarder.shutdown()
        if self.jaeger is not None:
            self.jaeger.shutdown()
        if self.scheduler is not None:
            self.scheduler.shutdown()
        if self.writer is not None:
            self.writer.shutdown(drain_seconds)
        if self.api is not None:
            self.api.shutdown()
        if self.webhook is not None:
            self.webhook.flush(5)
            self.webhook.close()
        if self.spool is not None:
            self.spool.close()
        self.store.close()
        log.info("collector stopped")

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT."""
        done = threading.Event()

        def stop(signum: int, frame: Any) -> None:
            done.set()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.start()
        while not done.wait(0.5):
            pass
        self.shutdown()
