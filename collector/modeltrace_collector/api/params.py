"""Query parameters of the HTTP routes (the API and Jaeger's v1 JSON API).

Every refusal is a ``BadParameter`` whose message names the parameter: the routes answer it
with 400. Times are accepted between 2000-01-01 and 2200-01-01 UTC: the product records no
earlier spans, and windows of up to 400 days either side stay inside what ClickHouse's
nanosecond timestamps hold (up to 2262) and what epoch arithmetic handles without going negative.
"""

from __future__ import annotations

import datetime as dt
import math
import re

MIN_TIME_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_TIME_MS = 7_258_118_400_000  # 2200-01-01T00:00:00Z
TIME_RANGE = "2000-01-01 and 2200-01-01 UTC"
MAX_WINDOW_SECONDS = 400 * 86400
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]{1,30}")
_DURATION = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h|d)?")
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


class BadParameter(ValueError):
    """A parameter the route refuses (400); the message says which and why."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


def parse_time(text: str | None, name: str = "at") -> int | None:
    """Epoch milliseconds from ``1790000000000`` (ms), ``1790000000`` (s) or ISO 8601 (UTC if no
    zone); None when absent or empty."""
    if not text:
        return None
    stripped = text.strip()
    ms: float | None = None
    if _NUMBER.fullmatch(stripped):
        value = float(stripped)
        if math.isfinite(value):
            ms = value if abs(value) > 1e11 else value * 1000
    elif len(stripped) <= 40:
        try:
            t = dt.datetime.fromisoformat(stripped.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=dt.timezone.utc)
            ms = t.timestamp() * 1000
        except (ValueError, OverflowError):
            ms = None
    if ms is None or not MIN_TIME_MS <= ms < MAX_TIME_MS:
        raise BadParameter(
            f"{name}: {_shown(text)} is not a time between {TIME_RANGE} (epoch seconds, epoch milliseconds or ISO 8601)"
        )
    return int(ms)


def parse_window(text: str | None, default: int = 3600, name: str = "window") -> int:
    """``300``, ``90s``, ``15m``, ``2h``, ``7d`` as whole seconds, from 1 s to 400 days."""
    if not text:
        return default
    m = _DURATION.fullmatch(text.strip())
    seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)] if m else math.nan
    if not 1 <= seconds <= MAX_WINDOW_SECONDS:  # false for nan too
        raise BadParameter(f"{name}: {_shown(text)} is not a duration like 90s, 15m, 2h or 7d from 1s to 400d")
    return int(seconds)


def parse_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    """A whole number in ``low..high`` written in ASCII digits."""
    if text is None or text == "":
        return default
    stripped = text.strip()
    value = int(stripped) if _INTEGER.fullmatch(stripped) else None
    if value is None or not low <= value <= high:
        raise BadParameter(f"{name}: {_shown(text)} is not a whole number from {low} to {high}")
    return value


def parse_number(text: str | None, name: str, low: float, high: float) -> float:
    """A finite decimal number in ``low..high`` written in ASCII (0 when absent)."""
    if text is None or text == "":
        return 0.0
    stripped = text.strip()
    value = float(stripped) if _NUMBER.fullmatch(stripped) else math.nan
    if not low <= value <= high:  # false for nan
        raise BadParameter(f"{name}: {_shown(text)} is not a number from {low:g} to {high:g}")
    return value


def parse_choice(text: str | None, name: str, choices: tuple[str, ...]) -> str:
    """One of ``choices`` ("" when absent; list "" among them to allow that)."""
    value = text or ""
    if value not in choices:
        shown = ", ".join(c for c in choices if c)
        raise BadParameter(f"{name}: {_shown(value)} is not one of {shown}")
    return value


def parse_flag(text: str | None, name: str) -> bool:
    value = parse_choice(text, name, ("", "0", "1", "false", "true"))
    return value in ("1", "true")
