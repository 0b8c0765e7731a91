"""Backtests: recorded or generated days through the agents (:mod:`streams.simulation`),
then the report (:mod:`domain.performance`, :mod:`streams.commands.backtest_report`).

- :func:`synthetic_items` makes N consecutive sessions with the seeded generator (seed
  ``S``, ``S+1``...; ``shuffle_posts`` takes the information out of the posts).
- :func:`recorded_days` finds the sessions of a date range that were recorded;
  :func:`recorded_items` reads a time range of the recorded topics
  (:func:`connectors.replay.recorded.read_range`); with recorded scores the posts are not
  scored again unless asked.
- :func:`run_backtest` simulates the items and returns the report dict; the same items and
  settings give the same report, to the last digit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from stocktracker.connectors.history.market_quotes import BAR_US
from stocktracker.connectors.replay.recorded import find_spans, read_range
from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.connectors.simulated.broker import SimulatedBroker
from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.benchmark import buy_and_hold, day_rows, never_trading
from stocktracker.domain.contracts import new_york_date
from stocktracker.domain.latency import stage_latencies, summarize
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.performance import MINUTE_BARS, build_report, equity_curve, trades_from_fills
from stocktracker.domain.skill import latest_scores, measure, mid_paths
from stocktracker.domain.synthetic import generate_day
from stocktracker.schemas.codec import Codec, SingleObjectCodec
from stocktracker.sentiment.ensemble import Ensemble
from stocktracker.streams.commands.admin import ensure_topics
from stocktracker.streams.commands.backtest_report import ChartData, write_report
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.settings import Settings
from stocktracker.streams.core.topics import RECORDS
from stocktracker.streams.simulation import Outcome, Simulation

START_CASH = 100_000.0


@dataclass(frozen=True)
class Result:
    """A backtest's report (the ``report.json`` dict) and what the charts draw."""

    report: dict[str, Any]
    charts: ChartData
    outcome: Outcome = field(repr=False)

    def write(self, directory: Path) -> tuple[Path, Path]:
        """``report.json`` and ``report.html`` into ``directory``."""
        return write_report(self.report, directory, self.charts)


def sessions_before(day: date, count: int, calendar: MarketCalendar | None = None) -> list[date]:
    """The ``count`` sessions ending with the last one before ``day``, oldest first."""
    calendar = calendar or MarketCalendar()
    found: list[date] = []
    probe = day - timedelta(days=1)
    while len(found) < count:
        if calendar.session_on(probe) is not None:
            found.append(probe)
        probe -= timedelta(days=1)
    return sorted(found)


def recorded_days(settings: Settings, first: date, last: date,
                  calendar: MarketCalendar | None = None) -> list[date]:
    """The sessions from ``first`` to ``last`` (both included) with recorded posts or quotes
    in their hours, oldest first."""
    calendar = calendar or MarketCalendar(settings.risk.exchange)
    k = settings.kafka
    days = []
    probe = first
    while probe <= last:
        session = calendar.session_on(probe)
        if session is not None and any(
                span.count for span in find_spans(k.bootstrap_servers, k.topic_prefix,
                                                  ("posts", "quotes"), session.open_us,
                                                  session.close_us)):
            days.append(probe)
        probe += timedelta(days=1)
    return days


def synthetic_items(days: Sequence[date], seed: int, shuffle_posts: bool = False,
                    calendar: MarketCalendar | None = None,
                    **generator: Any) -> list[ReplayItem]:
    """Generated sessions (seed ``seed + n`` for the n-th), posts and quotes in time order."""
    calendar = calendar or MarketCalendar()
    items: list[ReplayItem] = []
    for n, day in enumerate(days):
        session = calendar.session_on(day)
        if session is None:
            raise ValueError(f"{day} is not a trading session")
        options = {"quote_every_s": 15.0, "strikes_each_side": 6, **generator}
        generated = generate_day(datetime.fromtimestamp(session.open_us / 1e6, UTC),
                                 datetime.fromtimestamp(session.close_us / 1e6, UTC),
                                 seed=seed + n, shuffle_posts=shuffle_posts, **options)
        items += day_items(generated)
    return items


def recorded_items(settings: Settings, codec: Codec, from_us: int, to_us: int,
                   rescore: bool = False) -> tuple[list[ReplayItem], bool]:
    """The recorded records of the range, and whether posts must be scored (no recorded
    scores in the range, or ``rescore``). With rescoring, recorded scores are dropped."""
    items = list(read_range(settings.kafka.bootstrap_servers, settings.kafka.topic_prefix,
                            codec, from_us, to_us))
    has_scores = any(i.topic == "scores" for i in items)
    score_posts = rescore or not has_scores
    if score_posts:
        items = [i for i in items if i.topic != "scores"]
    return items, score_posts


def mirror(outcome: Outcome, settings: Settings, prefix: str) -> dict[str, int]:
    """Write every record of a simulation into the run's own topics (``prefix``, which must
    differ from the live one); returns the count per topic."""
    k = settings.kafka
    if prefix == k.topic_prefix:
        raise ValueError("a backtest's topics need their own prefix, not the live one")
    ensure_topics(k.bootstrap_servers, prefix, k.partitions, k.replication)
    producer = RecordProducer(k.bootstrap_servers, SingleObjectCodec(), prefix)
    counts = {}
    for topic, records in outcome.records.items():
        for key, record in zip(outcome.keys[topic], records, strict=True):
            producer.send(topic, RECORDS[topic], key, record)
            producer.poll(0)
        counts[topic] = len(records)
    if producer.flush(30):
        raise RuntimeError(f"the backtest's records did not all reach {prefix}*")
    return counts


def bar_quote_limits(settings: Settings) -> tuple[Settings, dict[str, float]]:
    """The settings with both quote-age limits (``RISK_MAX_QUOTE_AGE_S``,
    ``TRADING_STALE_POSITION_S``) at least one bar and a quarter of one (75 s): imported
    minute bars quote each contract once a minute, so a 30 s limit would refuse entries and
    flag positions stale for half of every minute, which is the data's resolution and not
    the market going quiet. Returns the settings and the limits applied."""
    floor = BAR_US / 1e6 * 1.25
    risk = max(settings.risk.max_quote_age_s, floor)
    stale = max(settings.trading.stale_position_s, floor)
    return settings.model_copy(update={
        "risk": settings.risk.model_copy(update={"max_quote_age_s": risk}),
        "trading": settings.trading.model_copy(update={"stale_position_s": stale}),
    }), {"max_quote_age_s": risk, "stale_position_s": stale}


def run_backtest(settings: Settings, items: Iterable[ReplayItem], *, rescore: bool = True,
                 start_cash: float = START_CASH, title: str = "backtest",
                 extra: dict[str, Any] | None = None, hosted_llms: bool = False,
                 keep_all: bool = False, ensemble: Ensemble | None = None) -> Result:
    """Simulate ``items`` through the agents with a simulated broker holding ``start_cash``
    and build the report. Posts are scored by the local models only unless ``hosted_llms``
    (hosted answers cost money and are not reproducible), by ``ensemble`` when given (else
    one from the settings, FinBERT judged on its modelled latency)."""
    if not hosted_llms:
        settings = settings.model_copy(update={"sentiment": settings.sentiment.model_copy(
            update={"llm_calls_per_minute": 0})})
    items = list(items)
    extra = dict(extra or {})
    if any(i.topic == "quotes" and i.record.get("derived") for i in items):
        settings, extra["bar_quote_limits_s"] = bar_quote_limits(settings)
    broker = SimulatedBroker(settings.trading.slippage, settings.trading.commission,
                             cash=start_cash,
                             latency_us=settings.trading.sim_latency_us(backtest=True))
    keep = tuple(RECORDS) if keep_all else ("scores", "sentiment", "signals", "orders", "fills",
                                             "positions", "quotes", "deadletter")
    simulation = Simulation(settings, broker=broker, rescore=rescore, keep=keep,
                            ensemble=ensemble)
    outcome = asyncio.run(simulation.run(items))
    return _result(outcome, simulation.calendar, start_cash, title, extra,
                   settings.signal.tickers[0] if settings.signal.tickers else "SPY",
                   settings.signal.bullish_threshold)


def _result(outcome: Outcome, calendar: MarketCalendar, start_cash: float, title: str,
            extra: dict[str, Any], underlying: str, threshold: float) -> Result:
    records = outcome.records
    orders = {o["client_order_id"]: o for o in records["orders"]}
    fills = records["fills"]
    quotes = records["quotes"]
    marks = [(q["event_time"], q["symbol"], (q["bid"] + q["ask"]) / 2) for q in quotes
             if q.get("option_type") and q["bid"] > 0 and q["ask"] > 0]
    price = [(q["event_time"], (q["bid"] + q["ask"]) / 2) for q in quotes
             if q["symbol"] == underlying and not q.get("option_type")]
    days = sorted({new_york_date(q["event_time"]) for q in quotes})
    sessions = [(s.open_us, s.close_us) for d in days if (s := calendar.session_on(d))]
    curve = equity_curve(start_cash, fills, marks, sessions=sessions or None)
    trades = trades_from_fills(fills, orders)
    metrics = build_report(curve, trades, periods_per_year=MINUTE_BARS).to_dict()
    latency: dict[str, list[float]] = {}
    for order in records["orders"]:
        if order["status"] in ("new", "rejected") and order["intent"] == "open":
            for stage, ms in stage_latencies(order.get("trace") or {}).items():
                latency.setdefault(stage, []).append(ms)
    report = {
        "title": title, **extra, **metrics,
        "signals": len(records["signals"]),
        "orders_rejected": sum(1 for o in records["orders"] if o["status"] == "rejected"),
        "failures": len(outcome.failures),
        "records_handled": outcome.handled,
        "trade_list": [t.to_dict() for t in trades],
        "latency": {stage: summarize(values) for stage, values in sorted(latency.items())},
        # which model predicted the underlying's next move in this run (domain/skill.py)
        "skill": measure(latest_scores(records.get("scores", [])), mid_paths(quotes),
                         threshold=threshold, draws=200).as_dict(),
    }
    # the underlying bought and held, and no trading at all, over the same quotes
    held = [(q["event_time"], q["bid"], q["ask"]) for q in quotes
            if q["symbol"] == underlying and not q.get("option_type")]
    report["benchmark"] = {b.name: b.to_dict() for b in (buy_and_hold(held, start_cash),
                                                          never_trading(start_cash))}
    report["days"] = [row.to_dict() for row in day_rows(start_cash, curve, trades, held)]
    sentiment = [(s["event_time"], s["decayed"]) for s in records["sentiment"]
                 if s["ticker"] == underlying]
    return Result(report, ChartData(curve, price, sentiment, underlying), outcome)
