"""Findings: what the analysis found, stored in ``ml_findings`` with an open/update/resolve life.

A finding is one row per state change (ReplacingMergeTree keeps the newest ``UpdatedAt`` per
``FindingId``); readers use FINAL. Opened and resolved findings are also announced to an
optional webhook.
"""

from __future__ import annotations

import builtins
import datetime as dt
import hashlib
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from ..storage.store import StoreView
from .sqlfiles import sql

log = logging.getLogger("modeltrace.analysis")

COLUMNS = (
    "FindingId",
    "Kind",
    "ModelName",
    "ModelVersion",
    "Operation",
    "Subject",
    "Score",
    "Threshold",
    "Severity",
    "WindowStart",
    "WindowEnd",
    "Evidence",
    "OpenedAt",
    "ResolvedAt",
    "UpdatedAt",
)


def utc(ms: int | float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).replace(tzinfo=None)


def to_ms(t: dt.datetime | None) -> int | None:
    if t is None:
        return None
    return int(t.replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def finding_id(*parts: Any) -> str:
    return hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).hexdigest()


@dataclass
class Finding:
    kind: str
    model: str
    version: str
    operation: str
    subject: str
    score: float
    threshold: float
    severity: str
    window_start_ms: int
    window_end_ms: int
    evidence: dict[str, Any] = field(default_factory=dict)
    opened_ms: int = 0
    resolved_ms: int | None = None
    id: str = ""

    def key(self) -> tuple[str, str, str, str, str]:
        return (self.kind, self.model, self.version, self.operation, self.subject)

    def row(self, updated_ms: int) -> list[Any]:
        return [
            self.id,
            self.kind,
            self.model,
            self.version,
            self.operation,
            self.subject,
            float(self.score),
            float(self.threshold),
            self.severity,
            utc(self.window_start_ms),
            utc(self.window_end_ms),
            json.dumps(self.evidence, default=str, allow_nan=False) if self.evidence else "{}",
            utc(self.opened_ms),
            utc(self.resolved_ms) if self.resolved_ms is not None else None,
            utc(updated_ms),
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "operation": self.operation,
            "subject": self.subject,
            "score": self.score,
            "threshold": self.threshold,
            "severity": self.severity,
            "window_start": utc(self.window_start_ms).isoformat() + "Z",
            "window_end": utc(self.window_end_ms).isoformat() + "Z",
            "opened_at": utc(self.opened_ms).isoformat() + "Z",
            "resolved_at": utc(self.resolved_ms).isoformat() + "Z" if self.resolved_ms is not None else None,
            "status": "open" if self.resolved_ms is None else "resolved",
            "evidence": self.evidence,
        }


class FindingStore:
    def __init__(self, store: StoreView, notifier: Webhook | None = None) -> None:
        self.store = store
        self.notifier = notifier
        self._updates = 0

    def _select(self, where: str, params: dict[str, Any], limit: int = 1000) -> list[Finding]:
        result = self.store.query(
            sql("findings_select", self.store.database, columns=", ".join(COLUMNS), where=where),
            {**params, "limit": limit},
        )
        out = []
        for r in result.result_rows:
            d = dict(zip(COLUMNS, r))
            try:
                evidence = json.loads(d["Evidence"] or "{}")
            except ValueError:
                evidence = {}
            out.append(
                Finding(
                    kind=d["Kind"],
                    model=d["ModelName"],
                    version=d["ModelVersion"],
                    operation=d["Operation"],
                    subject=d["Subject"],
                    score=d["Score"],
                    threshold=d["Threshold"],
                    severity=d["Severity"],
                    window_start_ms=to_ms(d["WindowStart"]) or 0,
                    window_end_ms=to_ms(d["WindowEnd"]) or 0,
                    evidence=evidence,
                    opened_ms=to_ms(d["OpenedAt"]) or 0,
                    resolved_ms=to_ms(d["ResolvedAt"]),
                    id=d["FindingId"],
                )
            )
        return out

    def open_findings(self, kinds: tuple[str, ...]) -> list[Finding]:
        return self._select("ResolvedAt IS NULL AND has({kinds:Array(String)}, Kind)", {"kinds": list(kinds)}, 100_000)

    def get(self, fid: str) -> Finding | None:
        found = self._select("FindingId = {id:String}", {"id": fid}, 1)
        return found[0] if found else None

    def list(
        self,
        model: str = "",
        kind: str = "",
        status: str = "",
        since_ms: int | None = None,
        limit: int = 100,
    ) -> builtins.list[Finding]:
        where = ["({model:String} = '' OR ModelName = {model:String})", "({kind:String} = '' OR Kind = {kind:String})"]
        if status == "open":
            where.append("ResolvedAt IS NULL")
        elif status == "resolved":
            where.append("ResolvedAt IS NOT NULL")
        params: dict[str, Any] = {"model": model, "kind": kind}
        if since_ms is not None:
            where.append("(ResolvedAt IS NULL OR ResolvedAt >= fromUnixTimestamp64Milli({since:Int64}))")
            params["since"] = since_ms
        return self._select(" AND ".join(where), params, limit)

    def save(self, findings: builtins.list[Finding], events: builtins.list[tuple[str, Finding]], now_ms: int) -> None:
        if not findings:
            return
        rows = [f.row(now_ms) for f in findings]
        columns = [list(c) for c in zip(*rows)]
        self._updates += 1
        self.store.insert("ml_findings", columns, COLUMNS, token=f"findings-{now_ms}-{self._updates}-{time.time_ns()}")
        if self.notifier is not None:
            for event, finding in events:
                self.notifier.send(event, finding)

    def reconcile(
        self,
        kinds: tuple[str, ...],
        current: builtins.list[Finding],
        now_ms: int,
        scope: set[tuple[str, str]] | None = None,
        existing: builtins.list[Finding] | None = None,
        episodes: bool = False,
    ) -> builtins.list[tuple[str, Finding]]:
        """Make ``ml_findings`` reflect ``current``: open new ones, update ongoing ones, resolve
        open ones no longer present. ``scope`` limits resolution to these (model, version)
        pairs (those the run looked at). A finding in ``current`` with ``resolved_ms`` set is
        stored resolved, unless it is stored resolved already; one never stored before is
        announced as opened and resolved (it began and ended between two runs). ``episodes``:
        a finding continues an open one only when it starts where that one started (anomaly
        episodes; another episode of the same subject is another finding), else by subject
        alone (drift over a sliding window). ``existing``: the open findings of these kinds,
        when the caller has just read them. Returns the (event, finding) pairs announced."""
        open_now = self.open_findings(kinds) if existing is None else existing
        existing_by_key = {f.key(): f for f in open_now}
        changed: builtins.list[Finding] = []
        events: builtins.list[tuple[str, Finding]] = []
        continued: set[str] = set()
        for f in current:
            old = existing_by_key.get(f.key())
            if old is not None and episodes and old.window_start_ms != f.window_start_ms:
                old = None
            if old is not None:
                continued.add(old.id)
                f.id, f.opened_ms = old.id, old.opened_ms
                f.window_start_ms = min(f.window_start_ms, old.window_start_ms)
                if (
                    f.resolved_ms is None
                    and f.score == old.score
                    and f.window_end_ms == old.window_end_ms
                    and f.severity == old.severity
                ):
                    continue  # nothing new
                if f.resolved_ms is None and _escalated(old, f):
                    events.append(("escalated", f))
            else:
                f.id = f.id or finding_id(*f.key(), f.window_start_ms)
                if f.resolved_ms is not None:
                    stored = self.get(f.id)
                    if stored is not None and stored.resolved_ms is not None:
                        continue  # an episode that ended and was recorded so in an earlier run
                f.opened_ms = f.opened_ms or now_ms
                events.append(("opened", f))
            if f.resolved_ms is not None:
                events.append(("resolved", f))
            changed.append(f)
        for old in open_now:
            if old.id in continued or (scope is not None and (old.model, old.version) not in scope):
                continue
            old.resolved_ms = now_ms
            changed.append(old)
            events.append(("resolved", old))
        self.save(changed, events, now_ms)
        return events


SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
TOP_CAUSES = 3  # the causes an alert carries


def _escalated(old: Finding, new: Finding) -> bool:
    """An open finding got worse: a higher severity, or a further rise recorded on it."""
    rises = len(new.evidence.get("escalations") or []) > len(old.evidence.get("escalations") or [])
    return rises or SEVERITY_RANK.get(new.severity, 1) > SEVERITY_RANK.get(old.severity, 1)


def alert_payload(event: str, finding: Finding) -> dict[str, Any]:
    """What a webhook receives: the event, a one-line summary, the top causes with their
    evidence (for latency and error-rate findings) and the whole finding."""
    ev = finding.evidence or {}
    causes = [
        {k: c[k] for k in ("dimension", "value", "evidence", "score", "mechanism", "change") if k in c}
        for c in (ev.get("root_causes") or [])[:TOP_CAUSES]
    ]
    return {"event": event, "summary": ev.get("summary", ""), "causes": causes, "finding": finding.as_dict()}


class Webhook:
    """POSTs ``{"event": "opened"|"escalated"|"resolved", "summary": ..., "causes": [...],
    "finding": {...}}`` as JSON (``alert_payload``), with retries, off the analysis thread.
    Deliveries that still fail after the retries are logged and dropped."""

    def __init__(self, url: str, timeout: float = 5.0, retries: int = 4, backoff: float = 0.5) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.delivered = 0
        self.failed = 0
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=10_000)
        self._thread = threading.Thread(target=self._run, name="modeltrace-webhook", daemon=True)
        self._thread.start()

    def send(self, event: str, finding: Finding) -> None:
        try:
            self._queue.put_nowait(alert_payload(event, finding))
        except queue.Full:
            self.failed += 1
            log.warning("webhook queue is full; dropping a %s event", event)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._deliver(item)
            self._queue.task_done()

    def _deliver(self, item: dict[str, Any]) -> None:
        body = json.dumps(item, default=str).encode()
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(  # noqa: S310 -- webhook_url is http(s), the config checks it
                self.url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "modeltrace"},
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
            except urllib.error.HTTPError as exc:
                if 400 <= exc.code < 500 and exc.code not in (408, 429):
                    log.warning("webhook refused a finding (%s); not retrying", exc.code)
                    self.failed += 1
                    return
            except (urllib.error.URLError, OSError) as exc:
                log.debug("webhook attempt %d failed: %s", attempt + 1, exc)
            time.sleep(self.backoff * (2**attempt))
        self.failed += 1
        log.warning(
            "webhook %s unreachable after %d attempts; a finding event was not delivered", self.url, self.retries + 1
        )

    def flush(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(5)
