"""The glue of ``stocktracker import market``: settings, Alpaca's clients, topics, the
progress bar and the report (the work is :mod:`connectors.history.market`)."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click

from stocktracker.connectors.history.market import (
    DayReport,
    DoneMarkers,
    MarketImportConfig,
    import_market,
    report_table,
)
from stocktracker.domain.market_hours import MarketCalendar, Session
from stocktracker.domain.spread_model import SpreadModel

UNFINISHED_US = 15 * 60_000_000
"""A session is imported once it closed this long ago (Alpaca's free plan withholds the
last 15 minutes of SIP data; a session still open would be marked done half imported)."""


def sessions_between(first: date, last: date, calendar: MarketCalendar | None = None) -> list[Session]:
    """The exchange's sessions from ``first`` to ``last``, both included."""
    calendar = calendar or MarketCalendar()
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return [s for s in map(calendar.session_on, days) if s is not None]


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    """A progress bar on a terminal, nothing otherwise (logs, pipes, tests)."""
    if not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label="importing", file=sys.stderr) as bar:
        yield bar


def run_market_import(first: date, last: date, underlyings: tuple[str, ...], *,
                      strikes: int | None, cache_dir: Path | None, trades: bool | None,
                      force: bool) -> list[DayReport]:
    """Import the sessions from ``first`` to ``last``; prints the table and a JSON summary."""
    from stocktracker.connectors.alpaca.broker import MissingKeys, credentials
    from stocktracker.connectors.alpaca.config import AlpacaSettings
    from stocktracker.connectors.alpaca.limiter import shared_limiter
    from stocktracker.connectors.history.market_source import (
        AlpacaHistory,
        MarketCache,
        RetryingSession,
    )
    from stocktracker.streams.commands.cli import _settings
    from stocktracker.streams.commands.cli_import import topics_producer

    settings = _settings()
    s = settings.market_import
    alpaca = AlpacaSettings()
    try:
        key, secret = credentials(alpaca)
    except MissingKeys as exc:
        raise click.ClickException(str(exc)) from exc
    root = cache_dir or s.cache_dir.expanduser()
    config = MarketImportConfig(
        strikes_each_side=s.strikes_each_side if strikes is None else strikes,
        window_pct=s.strike_window_pct, trades=s.trades if trades is None else trades,
        model=SpreadModel(range_weight=s.range_weight))
    sessions = sessions_between(first, last)
    over = time.time_ns() // 1000 - UNFINISHED_US  # the wall clock: this is the command's edge
    if any(s.close_us > over for s in sessions):
        click.echo("sessions not over (or within Alpaca's last 15 minutes) are left out", err=True)
        sessions = [s for s in sessions if s.close_us <= over]
    producer = topics_producer(settings)
    limiter = shared_limiter(key, alpaca.requests_per_minute)
    history = AlpacaHistory(key, secret, MarketCache(root), limiter,
                            trading_url=alpaca.trading_url, data_url=alpaca.data_url,
                            stock_feed=s.stock_feed,
                            session=RetryingSession(alpaca.timeout_s, limiter,
                                                    retries=max(alpaca.max_retries, 1)))
    chosen = underlyings or settings.signal.tickers
    try:
        with _progress(len(sessions) * len(chosen)) as bar:
            reports = import_market(history, producer, sessions, chosen, config,
                                    DoneMarkers(root, settings.kafka.topic_prefix), force=force,
                                    on_day=lambda _: bar.update(1) if bar is not None else None)
    finally:
        history.close()
    click.echo(report_table(reports))
    totals = {name: sum(getattr(r, name) for r in reports)
              for name in ("bars", "trades", "contracts", "quotes", "malformed", "requests")}
    statuses = {st: sum(1 for r in reports if r.status == st) for st in sorted({r.status for r in reports})}
    click.echo(json.dumps({"sessions": len(sessions), **totals, "days": statuses,
                           "throttled": history.session.throttled}))
    return reports
