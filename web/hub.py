"""The dashboard's hub: the view behind a lock, the event buffer, and what the web side asks.

:class:`Feed` takes records by :meth:`Feed.ingest` (tests call it directly; the Kafka feed
in :mod:`web.feed` calls it from its consumer thread) and hands batched events to the
Socket.IO emitter by :meth:`Feed.drain`.

The model skill (:class:`~domain.skill.RollingSkill`: does each model's score predict the
underlying's next move?) costs too much to compute per record or under the lock: the
underlyings' quotes and the scores are only queued as they come, and
:meth:`Feed.refresh_skill` (a thread, every ``WEB_SKILL_INTERVAL_S``) folds them in and
computes the report outside the lock, then queues the ``model_skill`` event.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any

from stocktracker.domain.control import ControlState
from stocktracker.domain.skill import HORIZONS_S, RollingSkill, SkillReport, is_underlying_quote
from stocktracker.streams.core.settings import WebSettings
from stocktracker.streams.core.trace import now_us
from stocktracker.web import report
from stocktracker.web.events import (
    ALERT,
    LATENCY,
    POSITION,
    SENTIMENT,
    SIGNAL,
    SKILL,
    STATUS,
    TRADE,
    VOLATILITY,
    Batch,
    Event,
    EventBuffer,
)
from stocktracker.web.view import DashboardView

EMIT_STAGE = "record_to_emit"
SKILL_DRAWS = 100  # bootstrap draws per report: 0.2 s for 200 posts, 0.8 s for 5,000
SKILL_QUEUE = 50_000  # records waiting for the next skill computation (the oldest dropped)
log = logging.getLogger(__name__)


class Feed:
    """The view of the pipeline and the events for browsers, safe to use from several threads.

    Parameters
    ----------
    web:
        The dashboard's settings (history sizes, batch size, status period, budget).
    info:
        Static facts shown in the status (tickers, broker kind, mode); never a secret.
    skill_threshold:
        ``|score|`` from which a post counts as a call in the model skill's hit rate (the
        signal's bullish threshold where the settings are known).
    """

    def __init__(self, web: WebSettings, info: Mapping[str, Any] | None = None,
                 skill_threshold: float = 0.25) -> None:
        self.web = web
        self.info = dict(info or {})
        self.view = DashboardView(web.history, web.latency_samples)
        self.buffer = EventBuffer(web.max_batch)
        self.lock = threading.Lock()
        self.health: dict[str, Any] = copy.deepcopy(report.UNKNOWN_HEALTH)
        self.health["feed"]["running"] = True
        self._status_period_us = int(web.status_interval_s * 1e6)
        self._next_status_us = 0
        self.ready = threading.Event()  # set when events wait: the emitter need not poll
        self.emitted: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.emits = 0
        # model skill: records queued under the lock, folded in and measured by refresh_skill
        self.skill = RollingSkill(web.skill_window_s, skill_threshold, HORIZONS_S)
        self._skill_queue: deque[tuple[str, Mapping[str, Any]]] = deque(maxlen=SKILL_QUEUE)
        self._skill_lock = threading.Lock()  # one computation at a time
        self._skill_clock = -1  # the pipeline clock of the last computation
        self._skill_view = self._skill_payload(SkillReport((), 0, dict.fromkeys(HORIZONS_S, 0)),
                                               0, None)
        self.skill_stats: dict[str, Any] = {"computed": 0, "last_ms": None, "queue_dropped": 0}
        self._skill_stop = threading.Event()
        self._skill_thread: threading.Thread | None = None

    # records in -------------------------------------------------------------------------
    def ingest(self, topic: str, record: Mapping[str, Any], seen_us: int | None = None) -> None:
        """Fold one decoded record into the view and queue its events."""
        self.ingest_many([(topic, record)], seen_us)

    def ingest_many(self, records: Iterable[tuple[str, Mapping[str, Any]]],
                    seen_us: int | None = None) -> None:
        """Fold several records under one lock (a consumer's poll batch)."""
        seen = seen_us or now_us()
        queued = False
        with self.lock:
            for topic, record in records:
                try:
                    events = self.view.apply(topic, record, seen)
                except Exception as exc:  # one odd record must not stop the view
                    log.exception("dashboard could not fold a %s record", topic)
                    self.view.failed(topic, f"{type(exc).__name__}: {exc}", seen)
                    continue
                for event in events:
                    self.buffer.add(event)
                    queued = True
                if topic == "scores" or (topic == "quotes" and is_underlying_quote(record)):
                    if len(self._skill_queue) == SKILL_QUEUE:
                        self.skill_stats["queue_dropped"] += 1
                    self._skill_queue.append((topic, record))
                if topic in ("control", "switches"):
                    self._next_status_us = 0  # sent, or applied by the owner: shown at once
                    queued = True
        if queued:
            self.ready.set()

    # events out -------------------------------------------------------------------------
    def drain(self, at_us: int | None = None) -> dict[str, Batch]:
        """The batches to emit now: queued events, and status/latency when they are due."""
        at = at_us or now_us()
        with self.lock:
            batches = self.buffer.drain()
            for point in batches.get(SENTIMENT, Batch()).items:
                self.view.add_sentiment_point(point)
            if at >= self._next_status_us:
                self._next_status_us = at + self._status_period_us
                batches[STATUS] = Batch([self._status(at)])
                point = {"t": at // 1000, "stages": self.view.latency.point()}
                self.view.latency_points.append(point)
                batches[LATENCY] = Batch([{**point, "budget_ms": self.web.latency_budget_ms,
                                           "rolling": self.view.latency.rolling()}])
        return batches

    def emitted_at(self, batches: Mapping[str, Batch], emit_us: int) -> None:
        """Record what was emitted at ``emit_us``: counts and record-to-emit latency."""
        with self.lock:
            self.emits += 1
            for name, batch in batches.items():
                self.emitted[name] += len(batch.items)
                self.dropped[name] += batch.dropped
                for origin in batch.origins:
                    if origin:
                        self.view.latency.add(EMIT_STAGE, (emit_us - origin) / 1000)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every event with the current state, for a browser that just connected."""
        at = now_us()
        with self.lock:
            v = self.view
            items = {
                SENTIMENT: [p for points in v.sentiment.values() for p in points],
                SIGNAL: list(v.signals.values()),
                TRADE: list(v.fills),
                POSITION: [v.position(s) for s in v.positions],
                STATUS: [self._status(at)],
                LATENCY: [{**p, "budget_ms": self.web.latency_budget_ms} for p in v.latency_points],
                SKILL: [self._skill_view],
                ALERT: list(v.alerts.alerts.values()),
                VOLATILITY: v.vol.rows(),
            }
            if items[LATENCY]:  # the table's figures come with the newest point
                items[LATENCY][-1]["rolling"] = v.latency.rolling()
        return {name: {"items": rows, "dropped": 0, "snapshot": True} for name, rows in items.items()}

    # model skill ------------------------------------------------------------------------
    def _skill_payload(self, found: SkillReport, clock_us: int, computed_us: int | None) -> dict[str, Any]:
        return report.skill(found, clock_us, window_s=self.web.skill_window_s,
                            threshold=self.skill.threshold, horizons=self.skill.horizons,
                            draws=SKILL_DRAWS, computed_us=computed_us)

    def refresh_skill(self) -> dict[str, Any] | None:
        """Fold the queued scores and quotes into the rolling skill, measure it over the
        window ending at the pipeline's clock and queue the ``model_skill`` event; returns
        it, or None when nothing came since the last time (nothing to send)."""
        with self._skill_lock:
            with self.lock:
                records, self._skill_queue = self._skill_queue, deque(maxlen=SKILL_QUEUE)
                clock = self.view.clock_us
            if not records and clock == self._skill_clock:
                return None
            started = time.perf_counter()
            failed = []
            for topic, record in records:
                try:
                    if topic == "scores":
                        self.skill.score(record)
                    else:
                        self.skill.quote(record)
                except Exception as exc:  # one odd record must not stop the panel
                    failed.append((topic, f"{type(exc).__name__}: {exc}"))
            payload = self._skill_payload(self.skill.report(clock, SKILL_DRAWS), clock, now_us())
            self._skill_clock = clock
            with self.lock:
                for topic, reason in failed:
                    self.view.failed(topic, f"model skill: {reason}", now_us())
                self._skill_view = payload
                self.skill_stats["computed"] += 1
                self.skill_stats["last_ms"] = round((time.perf_counter() - started) * 1000, 1)
                self.buffer.add(Event(SKILL, "skill", payload))
        self.ready.set()
        return payload

    def _skill_loop(self) -> None:
        while not self._skill_stop.wait(self.web.skill_interval_s):
            try:
                self.refresh_skill()
            except Exception:  # the panel keeps the last report; the next interval tries again
                log.exception("model skill computation failed")

    # REST views -------------------------------------------------------------------------
    def _status(self, at: int) -> dict[str, Any]:
        return report.status(self.view, self.health, at, self.info)

    def status(self) -> dict[str, Any]:
        """``GET /api/status``."""
        with self.lock:
            return self._status(now_us())

    def positions(self) -> dict[str, Any]:
        """``GET /api/positions``."""
        with self.lock:
            return report.positions(self.view)

    def signals(self, limit: int) -> list[dict[str, Any]]:
        """``GET /api/signals``: newest first."""
        with self.lock:
            return list(reversed(self.view.signals.values()))[:limit]

    def orders(self, limit: int) -> list[dict[str, Any]]:
        """``GET /api/orders``: newest first (the latest state of each order)."""
        with self.lock:
            return list(reversed(self.view.orders.values()))[:limit]

    def metrics(self) -> dict[str, Any]:
        """``GET /api/metrics``."""
        with self.lock:
            dashboard = {"emits": self.emits, "emitted": dict(self.emitted),
                         "dropped": dict(self.dropped), "pending": self.buffer.pending(),
                         "coalesced": self.buffer.coalesced, "skill": dict(self.skill_stats)}
            return report.metrics(self.view, now_us(), self.web.latency_budget_ms, dashboard)

    def skill_view(self) -> dict[str, Any]:
        """``GET /api/skill``: the latest model skill (what ``model_skill`` last sent)."""
        with self.lock:
            return self._skill_view

    def volatility(self) -> list[dict[str, Any]]:
        """``GET /api/volatility``: per ticker, the LLM's read and the measured regime."""
        with self.lock:
            return self.view.vol.rows()

    def alerts(self) -> dict[str, Any]:
        """``GET /api/alerts``."""
        with self.lock:
            return self.view.alerts.summary()

    def alert_record(self, alert_id: str) -> dict[str, Any] | None:
        """The latest ``Alert`` record of ``alert_id`` (None: no such alert)."""
        with self.lock:
            return self.view.alerts.latest_record(alert_id)

    def control_state(self) -> tuple[ControlState, int]:
        """The control state the owner last confirmed (the default one before any owner
        has: commands are checked against it), and the pipeline's clock (µs)."""
        with self.lock:
            return self.view.commands.state or ControlState(), self.view.clock_us

    # lifecycle (the Kafka feed reads the topics in threads) ------------------------------
    def start(self) -> None:
        """Start the model skill's thread (records come by :meth:`ingest`)."""
        if self._skill_thread is None:
            self._skill_thread = threading.Thread(target=self._skill_loop, name="web-skill",
                                                  daemon=True)
            self._skill_thread.start()

    def stop(self) -> None:
        """Stop the model skill's thread (a computation under way is waited for)."""
        self._skill_stop.set()
        if self._skill_thread is not None:
            self._skill_thread.join(10)
