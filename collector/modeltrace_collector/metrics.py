"""The collector's own Prometheus metrics (text exposition format, no extra dependency)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("modeltrace.metrics")

_HELP = {
    "spans_received": ("counter", "Spans accepted by the receivers and spooled"),
    "spans_rejected": ("counter", "Spans refused: malformed, oversize or the spool was full"),
    "requests_rejected": ("counter", "Export requests refused, by reason"),
    "spans_stored": ("counter", "Spans written to otel_traces"),
    "storage_errors": ("counter", "Failed storage writes (each is retried)"),
    "spool_records_undecodable": ("counter", "Spool records that could not be decoded"),
    # the two samples of one summary, modeltrace_write_seconds
    "write_seconds_sum": ("summary", "Time spent in storage writes, and how many batches"),
    "write_seconds_count": ("summary", "Time spent in storage writes, and how many batches"),
    "forward_sent_requests": ("counter", "Export requests forwarded to forward.endpoint"),
    "forward_retries": ("counter", "Forwarding attempts that failed and are retried"),
    "forward_dropped_requests": ("counter", "Requests not forwarded: rejected by the target, or the queue was full"),
    "spans_refused": ("counter", "Spans refused at the door (partial success), by reason"),
    "spans_corrected": ("counter", "Spans stored with a documented correction, by reason"),
    "dead_letters": ("counter", "Spans ClickHouse refused for good, moved to the dead-letter store, by cause"),
    "view_rows_skipped": (
        "counter",
        "Spans stored in otel_traces that a materialized view refused (it has no rows for them), by cause",
    ),
    "spans_replayed_after_crash": (
        "counter",
        "Spans of a batch a crash interrupted that were not stored at the next start (stored under a new token)",
    ),
    "dead_letters_dropped": ("counter", "Dead letters dropped because the store was over its size bound"),
    "dead_letters_replayed": ("counter", "Dead letters sent through the pipeline again"),
    "spool_errors": ("counter", "Spool reads or cursor writes that failed and were retried"),
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._gauges: dict[str, Callable[[], float]] = {}
        self._labelled: dict[str, tuple[str, str, Callable[[], dict[str, float]]]] = {}

    def inc(self, name: str, n: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + n

    def get(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0)

    def gauge(self, name: str, read: Callable[[], float]) -> None:
        self._gauges[name] = read

    def labelled_gauge(self, name: str, label: str, text: str, read: Callable[[], dict[str, float]]) -> None:
        """A gauge with one label; ``read`` returns {label value: gauge value}."""
        self._labelled[name] = (label, text, read)

    def observe_write(self, seconds: float, spans: int) -> None:
        self.inc("write_seconds_sum", seconds)
        self.inc("write_seconds_count")
        self.inc("spans_stored", spans)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        names = sorted({n for n, _ in counters} | set(_HELP))
        for name in names:
            kind, text = _HELP.get(name, ("counter", name))
            full = f"modeltrace_{name}" + ("_total" if kind == "counter" else "")
            family = f"modeltrace_{name.rsplit('_', 1)[0]}" if kind == "summary" else full
            if kind != "summary" or name.endswith("_count"):  # a summary's header comes once, first
                lines.append(f"# HELP {family} {text}")
                lines.append(f"# TYPE {family} {kind}")
            series = [(labels, v) for (n, labels), v in counters.items() if n == name] or [((), 0.0)]
            for labels, value in series:
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{full}{{{label_text}}} {_number(value)}" if label_text else f"{full} {_number(value)}")
        for name, read in sorted(self._gauges.items()):
            try:
                value = float(read())
            except Exception:  # a part that is not running (yet): no sample this time
                log.debug("gauge %s not readable", name, exc_info=True)
                continue
            lines.append(f"# TYPE modeltrace_{name} gauge")
            lines.append(f"modeltrace_{name} {_number(value)}")
        for name, (label, text, read_all) in sorted(self._labelled.items()):
            try:
                values = read_all()
            except Exception:
                log.debug("gauge %s not readable", name, exc_info=True)
                continue
            lines.append(f"# HELP modeltrace_{name} {text}")
            lines.append(f"# TYPE modeltrace_{name} gauge")
            for key, value in sorted(values.items()):
                lines.append(f'modeltrace_{name}{{{label}="{_escape(key)}"}} {_number(float(value))}')
        return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """Every digit of a count (``{:g}`` would print 1234567 as 1.23457e+06); floats in full."""
    value = float(value)
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(value)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
