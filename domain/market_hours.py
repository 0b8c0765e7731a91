"""Exchange sessions (open, close, half days) from exchange_calendars, by event time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session in µs since the epoch."""

    day: date
    open_us: int
    close_us: int

    def contains(self, ts_us: int) -> bool:
        """True while the market is open at ``ts_us`` (close excluded)."""
        return self.open_us <= ts_us < self.close_us

    def minutes_to_close(self, ts_us: int) -> float:
        """Minutes left until the close at ``ts_us`` (negative after it)."""
        return (self.close_us - ts_us) / 60e6


class MarketCalendar:
    """Sessions of one exchange (default XNYS, which also covers NYSE Arca's SPY options)."""

    def __init__(self, exchange: str = "XNYS") -> None:
        self.exchange = exchange
        self._calendar = xcals.get_calendar(exchange)

    def session_on(self, day: date) -> Session | None:
        """The session on ``day`` (``None`` on holidays and weekends)."""
        return _session_on(self.exchange, day)

    def session_at(self, ts_us: int) -> Session | None:
        """The session of the exchange-local day of ``ts_us`` (``None`` if no session)."""
        local = datetime.fromtimestamp(ts_us / 1e6, tz=UTC).astimezone(self._calendar.tz)
        return self.session_on(local.date())

    def latest_session(self, ts_us: int) -> Session:
        """The session of ``ts_us``'s exchange-local day, else the last one before it."""
        session = self.session_at(ts_us)
        if session is not None:
            return session
        local = datetime.fromtimestamp(ts_us / 1e6, tz=UTC).astimezone(self._calendar.tz)
        return self.previous_session(local.date())

    def is_open(self, ts_us: int) -> bool:
        """True while the exchange is open at ``ts_us``."""
        session = self.session_at(ts_us)
        return session is not None and session.contains(ts_us)

    def previous_session(self, day: date) -> Session:
        """The last session strictly before ``day``."""
        label = self._calendar.date_to_session(pd.Timestamp(day), direction="previous")
        if label.date() == day:
            label = self._calendar.previous_session(label)
        session = self.session_on(label.date())
        assert session is not None
        return session


@lru_cache(maxsize=256)
def _session_on(exchange: str, day: date) -> Session | None:
    calendar = xcals.get_calendar(exchange)
    label = pd.Timestamp(day)
    if not calendar.is_session(label):
        return None
    open_ts, close_ts = calendar.session_open_close(label)
    return Session(day, int(open_ts.value // 1000), int(close_ts.value // 1000))
