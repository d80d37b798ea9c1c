"""Failures inside instrumentation: caught, counted, logged once, never raised to the model.

Tests (and users debugging modeltrace itself) can set ``MODELTRACE_RAISE_INTERNAL_ERRORS=1``
so that internal failures surface instead of being swallowed.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter

logger = logging.getLogger("modeltrace")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
raise_internal_errors = os.environ.get("MODELTRACE_RAISE_INTERNAL_ERRORS", "") not in ("", "0")


def internal_error(where: str) -> None:
    """Record the exception being handled as an internal failure at ``where``.

    Must be called from an ``except`` block. Logs the first failure of each kind with its
    traceback; later ones are only counted.
    """
    with _lock:
        _counts[where] += 1
        first = _counts[where] == 1
    if first:
        logger.warning(
            "modeltrace: internal error in %s; the call continues uninstrumented "
            "(further errors of this kind are counted, not logged)",
            where,
            exc_info=True,
        )
    if raise_internal_errors:
        raise


def error_counts() -> dict[str, int]:
    """Internal failures counted so far, by where they happened."""
    with _lock:
        return dict(_counts)


def reset_error_counts() -> None:
    with _lock:
        _counts.clear()
