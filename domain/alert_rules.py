"""The alert rules: each looks at one :class:`Observed` snapshot and returns what it finds. Pure.

A rule returns a list of :class:`~domain.alerts.Finding` (empty: all is well) or ``None``
when it cannot tell (its input was never seen): then the alerts it raised before stay as
they are. The monitor (:mod:`web.alerting`) builds the snapshot from the topics and the
broker's answers; every threshold is an :class:`AlertLimits` field (``ALERT_*`` settings).
``docs/operations.md`` has a runbook entry for every rule in :data:`RULES`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise

from stocktracker.domain.alerts import CRITICAL, WARNING, Finding


@dataclass(frozen=True, slots=True)
class AlertLimits:
    """Thresholds (the ``ALERT_`` settings of the same names).

    Attributes
    ----------
    source_down_s, worker_missing_s, latency_hold_s:
        How long a source must stay disconnected, the worker group stay empty, and the
        post-to-order p99 stay over budget before they fire (the book's hold times).
    component_silent_s:
        A component whose health metrics stop this long is silent (they come every 10 s).
    no_posts_s:
        No post for this long while the market is open.
    latency_budget_ms, latency_min_samples:
        The post-to-order p99 budget, over the last minute's orders (at least this many).
    llm_error_ratio, llm_min_calls:
        Share of a hosted model's calls in the window that failed (error, timeout,
        nonsense), once it made this many.
    broker_errors:
        Orders the broker refused or could not take (submit errors) in the window.
    orders_factor, orders_floor:
        Orders in the last minute above ``orders_factor`` × the hour's mean per minute and
        above ``orders_floor``.
    daily_loss_levels:
        Shares (%) of the daily-loss limit the day's loss is told at (``100`` is critical).
    lag_min, lag_probes:
        Consumer lag over ``lag_min`` records that grew at each of ``lag_probes`` probes.
    fill_grace_s:
        A fill whose order is still unknown this long after it came.
    """

    source_down_s: float = 60.0
    worker_missing_s: float = 30.0
    latency_hold_s: float = 60.0
    component_silent_s: float = 60.0
    no_posts_s: float = 600.0
    latency_budget_ms: float = 200.0
    latency_min_samples: int = 5
    llm_error_ratio: float = 0.5
    llm_min_calls: int = 5
    broker_errors: int = 3
    orders_factor: float = 5.0
    orders_floor: int = 10
    daily_loss_levels: tuple[float, ...] = (50.0, 80.0, 100.0)
    lag_min: int = 1000
    lag_probes: int = 5
    fill_grace_s: float = 30.0

    def hold_us(self) -> dict[str, int]:
        """Per rule, how long a finding must hold before it fires."""
        return {"source_down": int(self.source_down_s * 1e6),
                "worker_missing": int(self.worker_missing_s * 1e6),
                "latency_budget": int(self.latency_hold_s * 1e6)}


@dataclass(frozen=True, slots=True)
class Observed:
    """What the monitor knows now. ``None`` everywhere means "never seen".

    Attributes
    ----------
    now_us:
        Wall clock.
    started_us:
        When the monitor started (the reference for "no post since").
    market_open:
        Whether the market is open at the pipeline's time.
    broker_connected, group_members, lag:
        The Kafka probe: broker answers, members of the workers' group, and the group's
        lag at the last probes (oldest first).
    sources:
        Ingest source -> (connected 0/1, wall µs of that health report).
    components:
        Component (``ingest``, ``score``, ``worker``) -> wall µs of its last metric.
    last_post_us:
        Wall µs the last post was read.
    stale_positions:
        Open positions whose quote is stale (the exits agent's ``position_stale``).
    post_to_order_ms:
        Post-to-order latencies of the orders read in the last minute.
    llm:
        Hosted model -> (calls, failed calls) in the window.
    broker_errors:
        Broker -> orders refused or not taken in the window.
    orders_last_minute, orders_per_minute:
        Orders sent in the last minute, and the mean per minute over the hour before
        (``None`` until an hour of history exists).
    day_pnl, max_daily_loss:
        The owner's figures (``account_day_pnl``, ``account_max_daily_loss``).
    killed:
        The kill switch as the owner last confirmed it.
    reconcile_mismatched:
        Positions the last reconciliation found different at the broker.
    unmatched_fills:
        Fills whose order is unknown ``fill_grace_s`` after they came: id -> symbol.
    """

    now_us: int
    started_us: int = 0
    market_open: bool | None = None
    broker_connected: bool | None = None
    group_members: int | None = None
    lag: tuple[int, ...] = ()
    sources: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    components: Mapping[str, int] = field(default_factory=dict)
    last_post_us: int | None = None
    stale_positions: tuple[str, ...] | None = None
    post_to_order_ms: tuple[float, ...] = ()
    llm: Mapping[str, tuple[int, int]] | None = None
    broker_errors: Mapping[str, int] | None = None
    orders_last_minute: int | None = None
    orders_per_minute: float | None = None
    day_pnl: float | None = None
    max_daily_loss: float | None = None
    killed: bool | None = None
    reconcile_mismatched: float | None = None
    unmatched_fills: Mapping[str, str] | None = None


Rule = Callable[[Observed, AlertLimits], list[Finding] | None]


def kafka_unreachable(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The Kafka broker does not answer the monitor's probe."""
    if o.broker_connected is None:
        return None
    return [] if o.broker_connected else [Finding(
        "kafka_unreachable", "kafka", CRITICAL, "the Kafka broker does not answer")]


def worker_missing(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """No worker in the group: nothing scores, signals or trades (and nothing exits)."""
    if o.group_members is None:
        return None
    return [] if o.group_members > 0 else [Finding(
        "worker_missing", "workers", CRITICAL, "no worker in the consumer group", 0.0, 1.0)]


def source_down(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """An ingest source reports itself disconnected (held ``source_down_s``)."""
    if not o.sources:
        return None
    return [Finding("source_down", name, WARNING, f"ingest source {name} is disconnected", 0.0)
            for name, (connected, _) in sorted(o.sources.items()) if not connected]


def component_silent(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """A component that published health metrics stopped (its process died or hangs)."""
    if not o.components:
        return None
    limit_us = lim.component_silent_s * 1e6
    return [Finding("component_silent", name, CRITICAL,
                    f"no metrics from {name} for {(o.now_us - seen) / 1e6:.0f} s",
                    round((o.now_us - seen) / 1e6, 1), lim.component_silent_s)
            for name, seen in sorted(o.components.items()) if o.now_us - seen > limit_us]


def no_posts(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """No post read for ``no_posts_s`` while the market is open."""
    if o.market_open is None:
        return None
    since = o.last_post_us or o.started_us
    quiet_s = (o.now_us - since) / 1e6
    if not o.market_open or quiet_s <= lim.no_posts_s:
        return []
    return [Finding("no_posts", "posts", WARNING,
                    f"no post for {quiet_s / 60:.0f} min in market hours", round(quiet_s, 1),
                    lim.no_posts_s)]


def stale_quotes(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """An open position's quote is stale: its exits go at market, blind."""
    if o.stale_positions is None:
        return None
    return [Finding("stale_quotes", symbol, WARNING,
                    f"no fresh quote for the open position {symbol}")
            for symbol in sorted(o.stale_positions)]


def p99(values: Iterable[float]) -> float:
    """The 99th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def latency_budget(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """Post-to-order p99 over the budget (held ``latency_hold_s``)."""
    if len(o.post_to_order_ms) < lim.latency_min_samples:
        return None if not o.post_to_order_ms else []
    worst = p99(o.post_to_order_ms)
    return [] if worst <= lim.latency_budget_ms else [Finding(
        "latency_budget", "post_to_order", WARNING,
        f"post-to-order p99 {worst:.0f} ms over the {lim.latency_budget_ms:.0f} ms budget "
        f"({len(o.post_to_order_ms)} orders in the last minute)", round(worst, 1),
        lim.latency_budget_ms)]


def llm_errors(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """A hosted model times out, fails or talks nonsense on too many calls."""
    if o.llm is None:
        return None
    out = []
    for model, (calls, failed) in sorted(o.llm.items()):
        if calls >= lim.llm_min_calls and failed / calls >= lim.llm_error_ratio:
            out.append(Finding("llm_errors", model, WARNING,
                               f"{model}: {failed} of {calls} calls failed (error, timeout or "
                               "nonsense)", round(failed / calls, 3), lim.llm_error_ratio))
    return out


def broker_errors(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The broker refuses orders or cannot be reached (5xx, 429 after retries, rejects)."""
    if o.broker_errors is None:
        return None
    return [Finding("broker_errors", broker, CRITICAL,
                    f"{n} orders refused or not taken by {broker}", float(n),
                    float(lim.broker_errors))
            for broker, n in sorted(o.broker_errors.items()) if n >= lim.broker_errors]


def order_rate(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """Orders in the last minute far above the hour's normal."""
    if o.orders_last_minute is None:
        return None
    normal = o.orders_per_minute
    limit = max(float(lim.orders_floor), lim.orders_factor * normal if normal else 0.0)
    if o.orders_last_minute <= limit:
        return []
    return [Finding("order_rate", "orders", CRITICAL,
                    f"{o.orders_last_minute} orders in the last minute (normal "
                    f"{normal or 0:.1f}/min)", float(o.orders_last_minute), limit)]


def daily_loss(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The day's loss at each level (50/80/100 %) of the daily-loss limit."""
    if o.day_pnl is None or not o.max_daily_loss:
        return None
    used = max(0.0, -o.day_pnl) / o.max_daily_loss * 100
    return [Finding("daily_loss", f"{level:g}%", CRITICAL if level >= 100 else WARNING,
                    f"day P&L ${o.day_pnl:,.2f}: {used:.0f}% of the ${o.max_daily_loss:,.0f} "
                    "daily loss limit", round(used, 1), level)
            for level in lim.daily_loss_levels if used >= level]


def kill_switch(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The kill switch is engaged: no entries until an operator resumes."""
    if o.killed is None:
        return None
    return [Finding("kill_switch", "account", CRITICAL, "the kill switch is engaged")] \
        if o.killed else []


def reconcile_mismatch(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The broker's positions differ from the book's at the last reconciliation."""
    if o.reconcile_mismatched is None:
        return None
    n = o.reconcile_mismatched
    return [Finding("reconcile_mismatch", "account", CRITICAL,
                    f"the last reconciliation found {n:g} position(s) different at the broker",
                    n, 0.0)] if n > 0 else []


def fill_without_order(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """A fill whose order nobody here sent (a trade by hand, or a lost order record)."""
    if o.unmatched_fills is None:
        return None
    return [Finding("fill_without_order", coid, CRITICAL,
                    f"a fill of {symbol} for order {coid}, which no order record names")
            for coid, symbol in sorted(o.unmatched_fills.items())]


def consumer_lag(o: Observed, lim: AlertLimits) -> list[Finding] | None:
    """The workers fall behind: lag over ``lag_min`` and growing at each recent probe."""
    if len(o.lag) < lim.lag_probes + 1:
        return None
    recent = o.lag[-(lim.lag_probes + 1):]
    growing = all(b > a for a, b in pairwise(recent))
    if not growing or recent[-1] <= lim.lag_min:
        return []
    return [Finding("consumer_lag", "workers", WARNING,
                    f"consumer lag {recent[-1]} records and growing", float(recent[-1]),
                    float(lim.lag_min))]


RULES: tuple[tuple[str, Rule], ...] = (
    ("kafka_unreachable", kafka_unreachable), ("worker_missing", worker_missing),
    ("source_down", source_down), ("component_silent", component_silent),
    ("no_posts", no_posts), ("stale_quotes", stale_quotes), ("latency_budget", latency_budget),
    ("llm_errors", llm_errors), ("broker_errors", broker_errors), ("order_rate", order_rate),
    ("daily_loss", daily_loss), ("kill_switch", kill_switch),
    ("reconcile_mismatch", reconcile_mismatch), ("fill_without_order", fill_without_order),
    ("consumer_lag", consumer_lag),
)
"""Every rule, by name."""
RULE_NAMES = tuple(name for name, _ in RULES)


def evaluate(observed: Observed, limits: AlertLimits,
             enabled: Iterable[str] = RULE_NAMES) -> tuple[list[Finding], set[str]]:
    """Run the ``enabled`` rules: what they found, and which could tell."""
    wanted = set(enabled)
    findings: list[Finding] = []
    evaluated: set[str] = set()
    for name, rule in RULES:
        if name not in wanted:
            continue
        found = rule(observed, limits)
        if found is not None:
            evaluated.add(name)
            findings += found
    return findings, evaluated
