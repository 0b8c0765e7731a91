"""Trace stamps: the one place the pipeline reads the wall clock on purpose.

Stamps measure latency only; decisions use event time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping


def now_us() -> int:
    """Wall-clock µs since the epoch."""
    return time.time_ns() // 1000


def stamped(trace: Mapping[str, int], stage: str, received_us: int) -> dict[str, int]:
    """A copy of ``trace`` with ``<stage>_in`` = received and ``<stage>_out`` = now."""
    out = dict(trace)
    out[f"{stage}_in"] = received_us
    out[f"{stage}_out"] = now_us()
    return out
