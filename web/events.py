"""Socket.IO events and the buffer that batches them, so a busy stream cannot flood a browser. Pure.

Every event is emitted as one batch per emit interval: ``{"items": [...], "dropped": n}``.
Items with a key (a ticker's sentiment, a contract's position, a signal by id) are
coalesced: only the latest per key is sent. Items without a key (trades) are all sent up
to ``max_batch`` per interval, the newest kept; the rest are counted in ``dropped``.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

SENTIMENT = "sentiment_update"
SIGNAL = "signal_generated"
TRADE = "trade_executed"
POSITION = "position_update"
STATUS = "system_status"
LATENCY = "latency_metrics"
SKILL = "model_skill"
ALERT = "alert_update"
VOLATILITY = "volatility_update"
EVENTS = (SENTIMENT, SIGNAL, TRADE, POSITION, STATUS, LATENCY, SKILL, ALERT, VOLATILITY)


@dataclass(frozen=True, slots=True)
class Event:
    """One item for the browser.

    Attributes
    ----------
    name:
        One of :data:`EVENTS`.
    key:
        Items with the same key replace each other until emitted; None: never coalesced.
    payload:
        What the browser receives (JSON-able, no secret).
    origin_us:
        Wall-clock µs the record left the stage that produced it (its trace's latest
        ``*_out``), for the record-to-emit latency; 0 when unknown.
    """

    name: str
    key: str | None
    payload: dict[str, Any]
    origin_us: int = 0


@dataclass
class Batch:
    """What one event sends at one emit."""

    items: list[dict[str, Any]] = field(default_factory=list)
    dropped: int = 0
    origins: list[int] = field(default_factory=list)

    def message(self) -> dict[str, Any]:
        """The Socket.IO payload."""
        return {"items": self.items, "dropped": self.dropped}


class EventBuffer:
    """Collects events between emits; :meth:`drain` gives one batch per event name."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self._keyed: dict[str, OrderedDict[str, Event]] = {}
        self._listed: dict[str, list[Event]] = {}
        self._dropped: dict[str, int] = {}
        self.added = 0
        self.coalesced = 0

    def add(self, event: Event) -> None:
        """Queue one event (replacing a queued one with the same key)."""
        self.added += 1
        if event.key is None:
            queue = self._listed.setdefault(event.name, [])
            queue.append(event)
            if len(queue) > 2 * self.max_batch:  # bound memory between emits
                overflow = len(queue) - self.max_batch
                del queue[:overflow]
                self._dropped[event.name] = self._dropped.get(event.name, 0) + overflow
            return
        keyed = self._keyed.setdefault(event.name, OrderedDict())
        if event.key in keyed:
            self.coalesced += 1
            del keyed[event.key]
        keyed[event.key] = event

    def pending(self) -> int:
        """Items waiting."""
        return sum(map(len, self._keyed.values())) + sum(map(len, self._listed.values()))

    def drain(self) -> dict[str, Batch]:
        """Everything queued, one batch per event name, capped at ``max_batch`` items."""
        out: dict[str, Batch] = {}
        names = set(self._keyed) | set(self._listed)
        for name in names:
            events = list(self._keyed.get(name, {}).values()) + self._listed.get(name, [])
            dropped = self._dropped.get(name, 0) + max(0, len(events) - self.max_batch)
            kept = events[-self.max_batch:]
            if kept or dropped:
                out[name] = Batch([e.payload for e in kept], dropped, [e.origin_us for e in kept])
        self._keyed, self._listed, self._dropped = {}, {}, {}
        return out
