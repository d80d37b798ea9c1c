"""The collector's own Prometheus metrics (text exposition format, no extra dependency)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_HELP = {
    "spans_received": ("counter", "Spans accepted by the receivers and spooled"),
    "spans_rejected": ("counter", "Spans refused: malformed, oversize or the spool was full"),
    "requests_rejected": ("counter", "Export requests refused, by reason"),
    "spans_stored": ("counter", "Spans written to otel_traces"),
    "storage_errors": ("counter", "Failed storage writes (each is retried)"),
    "spool_records_undecodable": ("counter", "Spool records that could not be decoded"),
    "write_seconds_sum": ("counter", "Total time spent in storage writes"),
    "write_seconds_count": ("counter", "Storage write batches"),
    "forward_sent_requests": ("counter", "Export requests forwarded to forward.endpoint"),
    "forward_retries": ("counter", "Forwarding attempts that failed and are retried"),
    "forward_dropped_requests": ("counter", "Requests not forwarded: rejected by the target, or the queue was full"),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._gauges: dict[str, Callable[[], float]] = {}

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + n

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def observe_write(self, seconds: float, batch: Any) -> None:
        self.inc("write_seconds_sum", seconds)
        self.inc("write_seconds_count")
        self.inc("spans_stored", batch.spans)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        names = sorted({n for n, _ in counters} | set(_HELP))
        for name in names:
            kind, text = _HELP.get(name, ("counter", name))
            full = f"modeltrace_{name}" + (
                "_total" if kind == "counter" and not name.endswith(("_sum", "_count")) else ""
            )
            lines.append(f"# HELP {full} {text}")
            lines.append(f"# TYPE {full} {kind}")
            series = [(labels, v) for (n, labels), v in counters.items() if n == name] or [((), 0.0)]
            for labels, value in series:
                label_text = ",".join(f'{k}="{v}"' for k, v in labels)
                lines.append(f"{full}{{{label_text}}} {value:g}" if label_text else f"{full} {value:g}")
        for name, read in sorted(self._gauges.items()):
            try:
                value = float(read())
            except Exception:
                continue
            lines.append(f"# TYPE modeltrace_{name} gauge")
            lines.append(f"modeltrace_{name} {value:g}")
        return "\n".join(lines) + "\n"
