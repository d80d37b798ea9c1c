"""The collector process: storage, spool, writer, receivers and the read API, started and
stopped in order. SIGTERM/SIGINT stop the receivers first, let the writer drain the spool,
then close storage; anything not yet written stays in the spool for the next start.
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import os
import signal
import threading
from typing import Any

from .analysis.findings import Webhook
from .analysis.runner import Analyzer, Scheduler, settings_from_config
from .api.server import ApiServer
from .auth import Authenticator, Exposed
from .component import Parts
from .config import Config
from .jaeger.grpc_storage import JaegerStorageServer
from .metrics import Metrics
from .net.listener import Tls, is_loopback
from .pipeline.deadletter import DeadLetters
from .pipeline.forward import Forwarder
from .pipeline.spool import Spool, SpoolFull
from .pipeline.writer import Writer
from .query.catalog import Catalog
from .query.sql_sandbox import SqlLimits, SqlSandbox
from .query.traces import TraceReader
from .receivers.ingest import Door, Malformed, Overloaded
from .receivers.otlp_grpc import GrpcReceiver
from .receivers.otlp_http import HttpReceiver
from .storage.client import StorageError, resolve
from .storage.migrate import SchemaOptions
from .storage.store import Store

log = logging.getLogger("modeltrace.collector")


def raise_file_limit(wanted: int = 65536) -> int:
    """Lift the soft limit of open files towards the hard one: every connection of the four
    listeners and every part of the store takes a descriptor, and the usual soft limit (1024)
    is reached long before the listeners' connection caps. Returns the limit in force."""
    try:
        import resource
    except ImportError:  # not on this platform
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("cannot raise the open-file limit from %d: %s", soft, exc)
    if soft != resource.RLIM_INFINITY and soft < 8192:
        log.warning("at most %d open files (ulimit -n): raise it for a collector many clients reach", soft)
    return int(soft)


def sql_limits(config: Config) -> SqlLimits:
    """The user SQL caps; with a memory cap on the embedded store, user SQL may take half of it
    at most (all its queries together), so that it cannot starve the writer's inserts."""
    limits = SqlLimits.from_config(config.api)
    embedded_mb = config.storage.embedded_memory_mb
    if embedded_mb > 0 and resolve(config.storage.dsn, config.data_dir).embedded:
        share = int(embedded_mb * (1 << 20) / 2 / config.api.sql_max_concurrent)
        if share < limits.max_memory_bytes:
            log.warning(
                "api.sql_max_memory_mb lowered to %d for each of api.sql_max_concurrent=%d queries: half of "
                "storage.embedded_memory_mb=%g, the rest is storage's",
                share >> 20,
                config.api.sql_max_concurrent,
                embedded_mb,
            )
            limits = dataclasses.replace(limits, max_memory_bytes=share)
    return limits


def make_store(config: Config, limits: SqlLimits | None = None) -> Store:
    storage = config.storage
    target = resolve(storage.dsn, config.data_dir, storage.embedded_memory_mb)
    options = SchemaOptions(database=storage.database, ttl_days=storage.ttl_days, cluster=storage.cluster or None)
    api = config.api
    sql_target = {}
    if api.sql_dsn:
        if target.embedded:
            raise ValueError("api.sql_dsn needs a ClickHouse server: the embedded store has no users")
        sql_target["sql"] = resolve(api.sql_dsn, config.data_dir)
    return Store(
        target,
        options,
        lanes={"sql": api.sql_max_concurrent},
        lane_settings={"sql": (limits or sql_limits(config)).session_settings()},
        lane_targets=sql_target,
    )


# the listen addresses of the listeners, (section, key)
# The order parts stop in: the receivers (no new spans), then the rest, the writer draining the
# spool, the API (it answers during the drain), and the spool closing last.
STOP_FIRST, STOP_DRAIN, STOP_AFTER_DRAIN, STOP_LAST = 0, 2, 3, 4
LISTEN_SETTINGS = (("receivers", "grpc"), ("receivers", "http"), ("api", "listen"), ("jaeger", "grpc"))


class Collector:
    def __init__(self, config: Config, insecure_no_auth: bool = False) -> None:
        self.config = config
        self.insecure_no_auth = insecure_no_auth
        self.metrics = Metrics()
        limits = sql_limits(config)
        self.store = make_store(config, limits)
        self.sql = SqlSandbox(config.storage.database, limits)
        self.spool: Spool | None = None
        self.dead_letters: DeadLetters | None = None
        self.writer: Writer | None = None
        self.door: Door | None = None
        self.auth: Authenticator | None = None
        self.receivers: list[Any] = []
        self.api: ApiServer | None = None
        drift, latency, rca, performance = settings_from_config(config)
        analysis = config.analysis
        self.webhook = (
            Webhook(analysis.webhook_url, timeout=analysis.webhook_timeout_seconds) if analysis.webhook_url else None
        )
        self.analyzer = Analyzer(self.store.on("analysis"), drift, latency, rca, self.webhook, performance)
        self.catalog = Catalog(self.store.on("api"))
        self.trace_reader = TraceReader(self.store.on("api"), max_trace_spans=config.jaeger.max_trace_spans)
        self.jaeger: JaegerStorageServer | None = None
        self.forwarder: Forwarder | None = None
        self.scheduler: Scheduler | None = None
        self.parts = Parts()
        self._stopped = threading.Event()
        self._lock_fd: int | None = None
        self._replaying = threading.Lock()

    def start(self) -> None:
        raise_file_limit()
        os.makedirs(self.config.data_dir, exist_ok=True)
        self._authenticate()
        self._lock_data_dir()
        try:
            self.store.ensure_schema()
        except StorageError as exc:
            # Keep receiving: spans wait in the spool until storage answers.
            log.error("storage is unavailable, spooling until it returns: %s", exc)
        try:
            self._start_parts()
        except BaseException:
            # a part that could not be built or started: stop the ones that did start
            log.error("the collector could not start; stopping what had started")
            self.parts.shutdown(30.0)
            self._release()
            raise
        log.info(
            "collector ready: OTLP gRPC %s, OTLP HTTP %s, API %s, Jaeger storage gRPC %s, forwarding to %s, storage %s",
            self.config.receivers.grpc or "off",
            self.config.receivers.http or "off",
            self.config.api.listen or "off",
            self.config.jaeger.grpc or "off",
            self.config.forward.endpoint or "nowhere",
            self.store.target.dsn,
        )

    def _start_parts(self) -> None:
        """Start every part in order; the receivers after what they feed, the API last (so an
        answering API means the collector takes spans). A part that fails to start stops the
        ones before it (Parts.start)."""
        parts = self.parts
        spool_cfg = self.config.spool
        self.spool = Spool(
            self.config.spool_dir,
            max_bytes=spool_cfg.max_bytes,
            segment_bytes=spool_cfg.segment_bytes,
            fsync=spool_cfg.fsync,
        )
        spool = self.spool
        parts.start(spool, stop_rank=STOP_LAST)
        self.metrics.gauge("spool_bytes", lambda: spool.depth()[0])
        self.metrics.gauge("spool_records", lambda: spool.depth()[1])
        self.metrics.gauge("spool_corrupt_records", lambda: spool.corrupt)
        metrics = self.metrics
        self.dead_letters = DeadLetters(
            os.path.join(self.config.data_dir, "deadletter"),
            max_bytes=self.config.deadletter.max_bytes,
            on_drop=lambda n: metrics.inc("dead_letters_dropped", n),
        )
        letters = self.dead_letters
        self.metrics.labelled_gauge(
            "dead_letters_stored", "cause", "Dead letters held on disk, by cause", lambda: dict(letters.counts())
        )
        self.metrics.gauge("dead_letters_bytes", letters.bytes)
        writer_cfg = self.config.writer
        self.writer = Writer(
            spool,
            self.store,
            self.metrics,
            batch_spans=writer_cfg.batch_spans,
            max_delay=writer_cfg.max_delay_seconds,
            dead_letters=self.dead_letters,
            stuck_seconds=writer_cfg.stuck_seconds,
            unready_seconds=self.config.deadletter.unready_seconds,
        )
        parts.start(self.writer, stop_rank=STOP_DRAIN)
        fwd = self.config.forward
        if fwd.endpoint:
            self.forwarder = Forwarder(
                fwd.endpoint,
                self.metrics,
                os.path.join(self.config.data_dir, "forward"),
                max_queue_bytes=fwd.max_queue_bytes,
                timeout=fwd.timeout_seconds,
                headers=dict(fwd.headers),
                tls_files=(fwd.tls_ca_file, fwd.tls_client_cert_file, fwd.tls_client_key_file),
            )
            parts.start(self.forwarder)
        rcv = self.config.receivers
        self.door = self._door(self.forwarder.submit if self.forwarder else None)
        # each receiver starts as soon as it is built: one that cannot be built (its port taken)
        # then leaves none built and not started behind
        if rcv.grpc:
            grpc_receiver = GrpcReceiver(rcv.grpc, self.door, rcv.max_request_bytes, tls=Tls.of(rcv), auth=self.auth)
            self.receivers.append(grpc_receiver)
            parts.start(grpc_receiver, stop_rank=STOP_FIRST)
        if rcv.http:
            http_receiver = HttpReceiver(
                rcv.http, self.door, rcv.max_request_bytes, read_timeout=rcv.read_timeout_seconds, tls=Tls.of(rcv),
                auth=self.auth,
            )  # fmt: skip
            self.receivers.append(http_receiver)
            parts.start(http_receiver, stop_rank=STOP_FIRST)
        if self.config.analysis.enabled:
            self.scheduler = Scheduler(self.analyzer, self.config.analysis.interval_seconds)
            parts.start(self.scheduler, stop_seconds=30.0)  # the run in progress ends first
            sched = self.scheduler
            self.metrics.gauge("analysis_runs", lambda: sched.runs)
            self.metrics.gauge("analysis_failures", lambda: sched.failures)
        self.metrics.gauge("ready", lambda: float(self.readiness()[0]))
        store = self.store
        self.metrics.labelled_gauge(
            "clickhouse_info", "version", "The ClickHouse version that stores the data (1 once it answers)",
            lambda: {v: 1.0} if (v := store.server_version()) else {},
        )  # fmt: skip
        self.metrics.labelled_gauge(
            "storage_lane_in_use", "lane", "Storage calls running now, by lane",
            lambda: {name: float(used) for name, (_, used, _) in self.store.lane_stats().items()},
        )  # fmt: skip
        if self.config.jaeger.grpc:
            self.jaeger = JaegerStorageServer(
                self.config.jaeger.grpc, self.trace_reader, tls=Tls.of(self.config.jaeger), auth=self.auth
            )
            parts.start(self.jaeger)
        if self.config.api.listen:
            self.api = ApiServer(self.config.api.listen, self)
            parts.start(self.api, stop_rank=STOP_AFTER_DRAIN)

    def _door(self, forward: Any) -> Door:
        if self.spool is None:
            raise RuntimeError("the spool is not open")
        rcv = self.config.receivers
        return Door(
            self.spool,
            self.metrics,
            forward,
            max_ml_json_bytes=rcv.max_ml_json_bytes,
            max_future_seconds=rcv.max_future_seconds,
            retention_seconds=self.config.storage.ttl_days * 86400,
        )

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Whether the collector stores what it acknowledges; when not, ``reasons`` say why."""
        reasons: list[str] = []
        storage_ok = self.store.ping()
        if not storage_ok:
            reasons.append("storage is unreachable")
        writer = self.writer
        if writer is None or writer not in self.parts:
            reasons.append("the writer has not started")
        reasons += self.parts.health()
        spool_bytes, spool_records = self.spool.depth() if self.spool else (0, 0)
        detail: dict[str, Any] = {
            "storage": "ok" if storage_ok else "unreachable",
            "writer": "ok"
            if writer is not None and writer.healthy
            else (writer.last_error if writer else "not started"),
            "spool_bytes": spool_bytes,
            "spool_records": spool_records,
            "dead_letters": self.dead_letters.total() if self.dead_letters else 0,
        }
        if reasons:
            detail["reasons"] = reasons
        writer_ok = writer is not None and writer.healthy
        return storage_ok and writer_ok and not reasons, detail

    def replay_dead_letters(self, ids: list[str] | None = None, cause: str | None = None) -> dict[str, Any]:
        """Send dead letters through the pipeline again (receivers' checks included).

        Each replayed span leaves the dead-letter store once it is back in the spool; a span
        the door now refuses, or that cannot be read, stays, and is reported."""
        if self.dead_letters is None or self.spool is None:
            raise RuntimeError("the collector has not started")
        # One replay at a time: two at once (a retried request) would each send every entry.
        with self._replaying:
            return self._replay(ids, cause)

    def _replay(self, ids: list[str] | None, cause: str | None) -> dict[str, Any]:
        if self.dead_letters is None:
            raise RuntimeError("the dead-letter store is not open")
        door = self._door(None)  # replayed spans were forwarded when they first arrived: not again
        matched = done = 0
        replayed: list[str] = []
        kept: list[dict[str, str]] = []
        for letter in self.dead_letters.iter_entries(cause=cause, ids=ids):
            matched += 1
            if letter.request is None:
                kept.append({"id": letter.id, "reason": "the span was not recovered from the spool; export it"})
                continue
            try:
                accepted = door.accept_raw(letter.request)
            except Overloaded as exc:
                kept.append({"id": letter.id, "reason": f"the spool is full, try later: {exc}"})
                break
            except (Malformed, SpoolFull) as exc:
                kept.append({"id": letter.id, "reason": str(exc)})
                continue
            if accepted.rejected:
                kept.append({"id": letter.id, "reason": accepted.message})
            else:
                replayed.append(letter.id)
                done += 1
                if len(replayed) >= 200:  # a crash mid-replay repeats at most these
                    self.dead_letters.remove(replayed)
                    replayed = []
        self.dead_letters.remove(replayed)
        self.metrics.inc("dead_letters_replayed", done)
        if done and self.writer is not None:
            self.writer.last_dead_letter = None
        return {"matched": matched, "replayed": done, "kept": kept[:100], "kept_total": len(kept)}

    def shutdown(self, drain_seconds: float = 30.0) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        log.info("shutting down: receivers first, then draining the spool")
        self.parts.shutdown(drain_seconds + 60, seconds={Writer.name: drain_seconds})
        self._release()
        log.info("collector stopped")

    def _release(self) -> None:
        """What the collector holds besides its parts: the webhook, the store, the data directory."""
        if self.webhook is not None:
            self.webhook.flush(5)
            self.webhook.close()
        self.store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None

    def _authenticate(self) -> None:
        """Safe by default: a listener beyond loopback needs API keys or tokens, or the explicit
        ``--insecure-no-auth``."""
        self.auth = Authenticator.from_config(self.config)
        exposed = [
            f"{section}.{key} = {self.config[section][key]}"
            for section, key in LISTEN_SETTINGS
            if self.config[section][key] and not is_loopback(self.config[section][key])
        ]
        if not exposed:
            return
        if self.insecure_no_auth:
            if not self.auth.enabled:
                log.warning(
                    "--insecure-no-auth: %s accept anyone who can reach them, without a token", ", ".join(exposed)
                )
            return
        self.auth.required = True  # revoking the last key locks the collector, never opens it
        if not self.auth.enabled:
            raise Exposed(
                f"{', '.join(exposed)} reach beyond this machine and no API key or token exists: create keys "
                "(modeltrace keys create --scope ingest --name NAME, and read and admin ones), or set auth.tokens, "
                "or listen on 127.0.0.1, or pass --insecure-no-auth to let anyone who can reach them in"
            )

    def _lock_data_dir(self) -> None:
        """One collector per data directory: two would share the spool and store spans twice."""
        path = os.path.join(self.config.data_dir, "collector.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise OSError(
                f"another collector (pid {holder}) is running on data_dir {self.config.data_dir}; "
                "give each collector a data directory of its own"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

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
