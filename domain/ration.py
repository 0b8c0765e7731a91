"""Rationing hosted LLM calls: a relevance bar and a per-minute budget. Pure (clock passed in).

The relevance of a post is :func:`domain.relevance.relevance`, the same figure the ingest
process ranks posts by (re-exported here for the score agent).
"""

from __future__ import annotations

from collections import deque

from stocktracker.domain.relevance import relevance

__all__ = ["MinuteBudget", "relevance"]


class MinuteBudget:
    """At most ``per_minute`` calls in any sliding 60 s (0 allows none).

    Parameters
    ----------
    per_minute:
        The budget.
    """

    def __init__(self, per_minute: int) -> None:
        if per_minute < 0:
            raise ValueError("per_minute must be >= 0")
        self.per_minute = per_minute
        self._calls: deque[float] = deque()
        self.refused = 0

    def take(self, now_s: float) -> bool:
        """Spend one call at ``now_s`` if the budget allows; count a refusal otherwise."""
        while self._calls and now_s - self._calls[0] >= 60.0:
            self._calls.popleft()
        if len(self._calls) >= self.per_minute:
            self.refused += 1
            return False
        self._calls.append(now_s)
        return True

    def used(self, now_s: float) -> int:
        """Calls spent in the 60 s before ``now_s``."""
        return sum(1 for t in self._calls if now_s - t < 60.0)
