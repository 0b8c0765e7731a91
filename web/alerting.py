"""The alert monitor: the rules run on what the dashboard's feed reads, changes go to the
``alerts`` topic and the webhooks.

Every ``ALERT_EVAL_INTERVAL_S`` the monitor takes a snapshot (:class:`domain.alert_rules.Observed`)
of the feed's view and of the broker probe, runs the enabled rules, and the book
(:class:`domain.alerts.AlertBook`) says what fired or resolved. Each change is written to
``alerts`` (the dashboard's list and banner read it back, and so does a restarted monitor:
the book is rebuilt from the topic, so nothing fires twice or stays unresolved) and offered
to the webhooks, which a second thread sends within the rate limit. No rule runs in the
first ``ALERT_WARMUP_S``: health comes every 10 s and the topic's history must be read first.

Time: the monitor is an edge, so it reads the wall clock; whether the market is open is
asked at the pipeline's time (the latest event time, moved on by the wall clock since it
last changed), so a replayed day is judged in its own hours.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from stocktracker.connectors.webhook import WebhookNotifier
from stocktracker.domain.alert_rules import Observed, evaluate
from stocktracker.domain.alerts import MINUTE_US, Alert, AlertBook, Delivery
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.trace import now_us
from stocktracker.web import report
from stocktracker.web.hub import Feed
from stocktracker.web.view import DashboardView

log = logging.getLogger(__name__)
MONITOR = "monitor"  # the trace key naming the monitor run that wrote a change
HOUR_US = 60 * MINUTE_US
LLM_FAILED = ("errors", "timeouts", "nonsense")


class AlertWriter(Protocol):
    """Where changes go (the ``alerts`` topic)."""

    def send(self, record: Mapping[str, Any]) -> None:
        """Write one ``Alert`` record."""
        ...


def _latest(view: DashboardView, name: str) -> float | None:
    rows = [m for m in view.metrics.values() if m["name"] == name]
    return max(rows, key=lambda m: m["seen_us"])["value"] if rows else None


def llm_totals(view: DashboardView) -> dict[str, tuple[float, float]]:
    """Per hosted model: calls and failed calls (errors, timeouts, nonsense), summed over the
    workers that report them (:func:`web.report.llm_usage`)."""
    return {model: (figures.get("calls", 0.0), sum(figures.get(k, 0.0) for k in LLM_FAILED))
            for model, figures in report.llm_usage(view)["models"].items()}


class AlertMonitor:
    """Runs the rules over a :class:`~web.hub.Feed` and tells the changes.

    Parameters
    ----------
    feed:
        The dashboard's feed (its view and probe); it must read ``alerts`` too.
    settings:
        ``ALERT_*`` (rules, thresholds, timing), the risk calendar, the workers' group.
    writer:
        Where changes are written (the ``alerts`` topic).
    notifier:
        The webhooks (None: none configured, changes are only written).
    clock:
        The wall clock, µs (tests drive it).
    """

    def __init__(self, feed: Feed, settings: Settings, writer: AlertWriter,
                 notifier: WebhookNotifier | None = None,
                 clock: Callable[[], int] = now_us) -> None:
        self.feed, self.writer, self.notifier, self.clock = feed, writer, notifier, clock
        self.settings = settings.alert
        self.limits = self.settings.limits()
        self.rules = self.settings.enabled_rules()
        self.book = AlertBook(self.limits.hold_us())
        self.delivery = Delivery(self.settings.rate_limit_per_minute)
        self.calendar = MarketCalendar(settings.risk.exchange)
        self.started_us = clock()
        self.run_id = int(uuid.uuid4().int % 2**62)  # marks this run's own changes
        self.evaluations = 0
        self.unwritten = 0  # changes the alerts topic did not take
        self._lag: deque[int] = deque(maxlen=self.limits.lag_probes + 1)
        self._lag_checked: object = None
        self._llm: deque[tuple[int, dict[str, tuple[float, float]]]] = deque()
        self._clock = (0, 0)  # (pipeline clock, wall µs when it last moved)
        self._lock = threading.Lock()  # the delivery queue, shared by the two threads
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # one evaluation --------------------------------------------------------------------
    def step(self) -> list[Alert]:
        """Read the topic's changes into the book; after the warm-up, run the rules, write
        and offer what changed. Returns the changes."""
        now = self.clock()
        with self.feed.lock:
            trail = self.feed.view.alerts.records
            records = [trail.popleft() for _ in range(len(trail))]
            observed = self.observe(self.feed.view, self.feed.health, now)
        for record in records:
            if (record.get("trace") or {}).get(MONITOR) != self.run_id:  # another run's
                self.book.restore(record)
        if now - self.started_us < self.settings.warmup_s * 1e6:
            return []
        findings, evaluated = evaluate(observed, self.limits, self.rules)
        changes = self.book.update(findings, evaluated, now)
        self.evaluations += 1
        for change in changes:
            log.warning("alert %s: %s %s", change.state, change.id, change.message)
            with self._lock:  # told even when the topic cannot be written (Kafka down)
                self.delivery.offer(change)
            record = change.to_record()
            record["trace"] = {MONITOR: self.run_id, "alerts_out": self.clock()}
            try:
                self.writer.send(record)
            except Exception as exc:  # the webhooks still get it; the page will not
                self.unwritten += 1
                log.error("alert %s (%s) not written to the alerts topic: %s", change.id,
                          change.state, exc)
        return changes

    def deliver(self) -> list[Alert]:
        """Send what the rate limit allows now; returns what was sent (or tried)."""
        with self._lock:
            due = self.delivery.due(self.clock())
        if self.notifier is not None:
            for alert in due:
                self.notifier.send(alert)
        return due

    # the snapshot ------------------------------------------------------------------------
    def observe(self, view: DashboardView, health: Mapping[str, Any], now: int) -> Observed:
        """What the rules look at now (called under the feed's lock)."""
        lim, act = self.limits, view.activity
        window = int(self.settings.window_s * 1e6)
        worker = health["worker"]
        if worker.get("checked_ms") != self._lag_checked and worker.get("lag") is not None:
            self._lag_checked = worker.get("checked_ms")
            self._lag.append(int(worker["lag"]))
        stage_seen = {k: v for k, v in view.component_seen.items() if k in ("ingest", "worker")}
        sources = {m["labels"]["source"]: (m["value"], m["seen_us"]) for m in view.metrics.values()
                   if m["name"] == "source_connected" and "source" in m["labels"]}
        failures: dict[str, int] = {}
        for seen, broker in act.broker_failures:
            if now - seen <= window:
                failures[broker] = failures.get(broker, 0) + 1
        sent_recently = [s for s in act.orders_sent if now - s <= HOUR_US + MINUTE_US]
        grace = int(lim.fill_grace_s * 1e6)
        since = self.started_us + int(self.settings.warmup_s * 1e6)
        state = view.commands.state
        return Observed(
            now_us=now, started_us=self.started_us, market_open=self._market_open(view, now),
            broker_connected=health["broker"].get("connected"),
            group_members=worker.get("members"), lag=tuple(self._lag), sources=sources,
            components=stage_seen, last_post_us=view.topic_seen.get("posts"),
            stale_positions=tuple(s for s, p in view.positions.items()
                                  if p["qty"] and p.get("stale")),
            post_to_order_ms=tuple(ms for seen, ms in act.post_to_order
                                   if now - seen <= MINUTE_US),
            llm=self._llm_window(view, now, window), broker_errors=failures,
            orders_last_minute=sum(1 for s in sent_recently if now - s <= MINUTE_US),
            orders_per_minute=(sum(1 for s in sent_recently if now - s > MINUTE_US) / 60
                               if now - self.started_us >= HOUR_US + MINUTE_US else None),
            day_pnl=_latest(view, "account_day_pnl"),
            max_daily_loss=_latest(view, "account_max_daily_loss"),
            killed=None if state is None else state.killed,
            reconcile_mismatched=_latest(view, "reconcile_mismatched"),
            unmatched_fills={coid: symbol for seen, coid, symbol in act.fills
                             if since <= seen <= now - grace and now - seen <= HOUR_US
                             and coid not in act.order_ids},
        )

    def _market_open(self, view: DashboardView, now: int) -> bool:
        clock, moved = self._clock
        if view.clock_us != clock:
            self._clock = clock, moved = view.clock_us, now
        at = clock + (now - moved) if clock else now
        session = self.calendar.session_at(at)
        return session is not None and session.contains(at)

    def _llm_window(self, view: DashboardView, now: int,
                    window: int) -> dict[str, tuple[int, int]] | None:
        totals = llm_totals(view)
        if not totals:
            return None
        self._llm.append((now, totals))
        while len(self._llm) > 1 and now - self._llm[1][0] >= window:
            self._llm.popleft()  # keep one sample at or before the window's start
        _, first = self._llm[0]
        out = {}
        for model, (calls, failed) in totals.items():
            calls0, failed0 = first.get(model, (0.0, 0.0))
            # a worker that restarted counts from 0 again: take its total as the delta
            out[model] = (int(calls - calls0) if calls >= calls0 else int(calls),
                          int(failed - failed0) if failed >= failed0 else int(failed))
        return out

    # threads ---------------------------------------------------------------------------
    def start(self) -> None:
        """Evaluate and deliver in two daemon threads."""
        for target, name in ((self._evaluate_loop, "alert-rules"),
                             (self._deliver_loop, "alert-webhooks")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop both threads (a webhook call under way is waited for)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(10)
        if self.notifier is not None:
            self.notifier.close()

    def _evaluate_loop(self) -> None:
        while not self._stop.wait(self.settings.eval_interval_s):
            try:
                self.step()
            except Exception:  # one failed evaluation must not stop the next ones
                log.exception("alert evaluation failed")

    def _deliver_loop(self) -> None:
        while not self._stop.wait(min(1.0, self.settings.eval_interval_s)):
            try:
                self.deliver()
            except Exception:
                log.exception("alert delivery failed")
