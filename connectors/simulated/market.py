"""Simulated market: a synthetic day's quotes and posts (one underlying's day or a market
day of several) as replay items, in time order."""

from __future__ import annotations

from typing import Any

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.domain.market_day import MarketDay
from stocktracker.domain.synthetic import OptionQuoteTick, SyntheticDay


def quote_record(tick: OptionQuoteTick) -> dict[str, Any]:
    """A Quote record (without trace) from a generated tick."""
    return {
        "symbol": tick.symbol, "underlying": tick.underlying, "bid": tick.bid,
        "ask": tick.ask, "bid_size": tick.bid_size, "ask_size": tick.ask_size,
        "option_type": tick.option_type, "strike": tick.strike, "expiry": tick.expiry,
        "iv": tick.iv, "delta": tick.delta, "event_time": tick.ts_us, "trace": {},
    }


def day_items(day: SyntheticDay | MarketDay) -> list[ReplayItem]:
    """Posts and quotes of a day merged by event time (quotes first on ties, so a post
    always finds the chain of its moment)."""
    items = [ReplayItem(t.ts_us, "quotes", "Quote", t.underlying, quote_record(t))
             for t in day.quotes]
    items += [ReplayItem(int(str(p["created_at_us"])), "posts", "Post", str(p["id"]), p)
              for p in day.posts]
    items.sort(key=lambda i: (i.event_us, i.topic != "quotes"))
    return items
