"""``stocktracker import market``: a day of Alpaca history as derived quotes on ``quotes``.

For each session and underlying (:func:`import_market`):

1. the underlying's minute bars (and trades, when asked) over the session;
2. the contracts that expired that day (``status=inactive``) with strikes within
   ``window_pct`` of the day's open (its first bar's open), of which the
   ``strikes_each_side`` strikes below the open and as many at or above it, calls and puts;
3. their minute bars (and trades);
4. every bar and trade as a derived ``Quote`` (:mod:`connectors.history.market_quotes`),
   all of the day in event-time order (the underlying first at equal times, so an option
   quote finds its spot), keyed by the underlying, with the quote's time as the Kafka
   timestamp; a bar that cannot be read goes to ``deadletter``.

A day whose records the broker all acknowledged is marked done (:class:`DoneMarkers`, one
file per topic prefix, underlying and day) and skipped next time unless ``force``. A day
that failed (an answer that did not come after the retries, a record not acknowledged) is
not marked, and the next run imports it again; its answers already cached are not asked
again. A day killed while producing may have written some of its quotes: the rerun writes
them again, the same records at the same times (see docs/operations.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import requests
from alpaca.common.exceptions import APIError

from stocktracker.connectors.base import Malformed
from stocktracker.connectors.history.market_quotes import (
    SpotLine,
    option_quotes,
    ticks,
    underlying_quotes,
)
from stocktracker.connectors.history.market_source import AlpacaHistory
from stocktracker.connectors.history.produce import dead_letter
from stocktracker.domain.market_hours import Session
from stocktracker.domain.spread_model import SpreadModel

Json = dict[str, Any]


class Producer(Protocol):
    """What the import needs of :class:`~streams.core.producer.RecordProducer`."""

    failed: int

    def send(self, topic: str, record_name: str, key: str, record: Json,
             on_delivered: Callable[[], None] | None = None) -> None:
        """Produce one record (its Kafka timestamp: its ``event_time``)."""

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for the acknowledgements; how many records are still queued."""


@dataclass(frozen=True, slots=True)
class MarketImportConfig:
    """What is imported per day.

    Attributes
    ----------
    strikes_each_side:
        Strikes below the open, and as many at or above it (each a call and a put).
    window_pct:
        The contracts asked for: strikes within this % of the open.
    trades:
        Also the trades of the underlying and the contracts (many more requests).
    model:
        The spread model of the derived quotes.
    rate:
        Risk-free rate of the IV and delta.
    flush_timeout_s:
        How long a day's records may wait for the broker's acknowledgement.
    """

    strikes_each_side: int = 5
    window_pct: float = 3.0
    trades: bool = False
    model: SpreadModel = field(default_factory=SpreadModel)
    rate: float = 0.04
    flush_timeout_s: float = 60.0


@dataclass(slots=True)
class DayReport:
    """What became of one underlying's day: ``status`` is ``imported``, ``skipped`` (done
    before), ``no data`` (no bar of the underlying) or ``failed`` (see ``error``)."""

    day: date
    underlying: str
    status: str = "imported"
    bars: int = 0
    trades: int = 0
    contracts: int = 0
    quotes: int = 0
    malformed: int = 0
    requests: int = 0
    error: str | None = None


def report_table(days: Iterable[DayReport]) -> str:
    """A plain-text table: a row per underlying and day, a column per count."""
    heads = ["day", "underlying", "status", "bars", "trades", "contracts", "quotes",
             "malformed", "requests"]
    cells = [heads, *([str(d.day), d.underlying, d.status, *map(str, (
        d.bars, d.trades, d.contracts, d.quotes, d.malformed, d.requests))] for d in days)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(heads))]
    return "\n".join("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths, strict=True))).rstrip()
                     for row in cells)


class DoneMarkers:
    """Which days were imported whole, per topic prefix (``<root>/_done/<prefix>/``)."""

    def __init__(self, root: Path, prefix: str) -> None:
        self.folder = root / "_done" / (prefix or "-")

    def _path(self, underlying: str, day: date) -> Path:
        return self.folder / underlying / f"{day.isoformat()}.json"

    def done(self, underlying: str, day: date) -> bool:
        """Whether the day was imported whole."""
        return self._path(underlying, day).exists()

    def mark(self, report: DayReport) -> None:
        """Mark a day imported whole (its counts kept in the marker)."""
        path = self._path(report.underlying, report.day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"quotes": report.quotes, "bars": report.bars,
                                    "contracts": report.contracts}))


def choose_contracts(contracts: Iterable[Json], open_price: float, each_side: int) -> list[Json]:
    """The contracts at the ``each_side`` strikes below ``open_price`` and as many at or
    above it (every type at those strikes), sorted by symbol."""
    listed = list(contracts)
    strikes = sorted({float(c["strike_price"]) for c in listed})
    below = [s for s in strikes if s < open_price][-each_side:] if each_side else []
    above = [s for s in strikes if s >= open_price][:each_side]
    kept = set(below) | set(above)
    return sorted((c for c in listed if float(c["strike_price"]) in kept),
                  key=lambda c: str(c["symbol"]))


def day_records(history: AlpacaHistory, underlying: str, session: Session,
                config: MarketImportConfig, report: DayReport) -> tuple[list[Json], list[Malformed]]:
    """The day's quotes in event-time order and its unreadable bars (counts in ``report``)."""
    bars = history.stock("bars", underlying, session)
    trades = history.stock("trades", underlying, session) if config.trades else []
    report.bars, report.trades = len(bars), len(trades)
    line, bad = ticks(underlying, bars, trades)
    if not line:
        report.status = "no data"
        return [], bad
    open_price = float(bars[0]["o"]) if bars else line[0].price
    pct = config.window_pct / 100
    listed = history.expired_contracts(underlying, session.day, round(open_price * (1 - pct), 2),
                                       round(open_price * (1 + pct), 2))
    chosen = choose_contracts(listed, open_price, config.strikes_each_side)
    report.contracts = len(chosen)
    symbols = [str(c["symbol"]) for c in chosen]
    option_bars = history.options("bars", underlying, symbols, session)
    option_trades = history.options("trades", underlying, symbols, session) if config.trades \
        else {}
    records = underlying_quotes(underlying, line, config.model)
    spot = SpotLine(line)
    for contract in chosen:
        symbol = str(contract["symbol"])
        some_bars, some_trades = option_bars.get(symbol, []), option_trades.get(symbol, [])
        report.bars += len(some_bars)
        report.trades += len(some_trades)
        option_line, option_bad = ticks(symbol, some_bars, some_trades)
        bad += option_bad
        penny = contract.get("ppind")
        records += option_quotes(symbol, option_line, spot, session.close_us, config.model,
                                 penny if isinstance(penny, bool) else None, config.rate)
    # at one instant the contracts come before their underlying: a consumer handling the
    # underlying's quote (exits, the stale checks) then sees the contracts' quotes of that
    # same minute, not the minute before's
    records.sort(key=lambda r: (r["event_time"], r["option_type"] is None, r["symbol"]))
    report.malformed = len(bad)
    return records, bad


def import_market(history: AlpacaHistory, producer: Producer, sessions: Iterable[Session],
                  underlyings: Iterable[str], config: MarketImportConfig, markers: DoneMarkers,
                  *, force: bool = False,
                  on_day: Callable[[DayReport], None] = lambda _: None) -> list[DayReport]:
    """Import every session for every underlying (see the module doc); a report per day.

    A day that fails is reported and the next day is imported all the same.
    """
    reports = []
    tickers = list(underlyings)
    for session in sessions:
        for underlying in tickers:
            report = DayReport(session.day, underlying)
            if not force and markers.done(underlying, session.day):
                report.status = "skipped"
            else:
                _import_day(history, producer, underlying, session, config, markers, report)
            reports.append(report)
            on_day(report)
    return reports


def _import_day(history: AlpacaHistory, producer: Producer, underlying: str,
                session: Session, config: MarketImportConfig, markers: DoneMarkers,
                report: DayReport) -> None:
    sent_before = history.session.sent
    try:
        records, bad = day_records(history, underlying, session, config, report)
    except (APIError, requests.RequestException, OSError, ValueError, KeyError) as exc:
        report.status, report.error = "failed", f"{type(exc).__name__}: {str(exc)[:300]}"
        report.requests = history.session.sent - sent_before
        return
    report.requests = history.session.sent - sent_before
    acked = [0]

    def ack() -> None:
        acked[0] += 1

    failed_before = producer.failed
    for item in bad:
        producer.send("deadletter", "DeadLetter", item.source, dead_letter(item), on_delivered=ack)
    for record in records:
        producer.send("quotes", "Quote", underlying, record, on_delivered=ack)
    unsent = producer.flush(config.flush_timeout_s)
    report.quotes = len(records)
    if unsent or producer.failed > failed_before or acked[0] != len(records) + len(bad):
        report.status = "failed"
        report.error = (f"the broker acknowledged {acked[0]} of {len(records) + len(bad)} "
                        f"records ({unsent} still queued)")
        return
    if report.status == "imported":
        markers.mark(report)
