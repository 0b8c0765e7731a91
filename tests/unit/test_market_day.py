"""A generated market day of several underlyings: each its own path, chain and posts, a
weekly single stock the nearest-expiry rule trades, and posts naming two tickers."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.contracts import ChainQuote, ContractRule, choose
from stocktracker.domain.market_day import (
    DEFAULT_UNDERLYINGS,
    MarketDay,
    UnderlyingSpec,
    generate_market_day,
    pair_direction,
    weekly_expiry,
)
from stocktracker.domain.synthetic import generate_day
from stocktracker.domain.tickers import extract_tickers

OPEN = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)  # a Tuesday
CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
SPY, QQQ, IWM, AAPL = DEFAULT_UNDERLYINGS
KNOWN = frozenset(u.ticker for u in DEFAULT_UNDERLYINGS)


@pytest.fixture(scope="module")
def market() -> MarketDay:
    return generate_market_day(OPEN, CLOSE, seed=7, underlyings=DEFAULT_UNDERLYINGS,
                               quote_every_s=1800.0)


def test_one_underlying_is_bit_for_bit_the_single_day() -> None:
    single = generate_day(OPEN, CLOSE, seed=5, quote_every_s=1800.0)
    market = generate_market_day(OPEN, CLOSE, seed=5, underlyings=[SPY], quote_every_s=1800.0)
    assert market.quotes == single.quotes and market.posts == single.posts
    assert market.days == (single,) and market.pair_posts == []


def test_each_underlying_has_its_own_path_chain_and_posts(market: MarketDay) -> None:
    assert [d.underlying for d in market.days] == ["SPY", "QQQ", "IWM", "AAPL"]
    for spec, day in zip(DEFAULT_UNDERLYINGS, market.days, strict=True):
        assert day.path[0][1] == spec.start_price
        assert {q.underlying for q in day.quotes} == {spec.ticker}
        assert all(q.symbol.startswith(spec.ticker) for q in day.quotes)
        # its posts name it, and no other underlying
        assert all(extract_tickers(str(p["text"]), KNOWN) == [spec.ticker]
                   for p in day.posts)
    assert len({d.seed for d in market.days}) == 4
    assert len({tuple(e for e, _ in d.drift_events) for d in market.days}) == 4
    ids = [p["id"] for p in market.posts]
    assert len(ids) == len(set(ids))


def test_the_merged_day_is_in_time_order_with_every_record(market: MarketDay) -> None:
    assert len(market.quotes) == sum(len(d.quotes) for d in market.days)
    assert len(market.posts) == sum(len(d.posts) for d in market.days) + len(market.pair_posts)
    stamps = [q.ts_us for q in market.quotes]
    assert stamps == sorted(stamps)
    items = day_items(market)
    assert [i.event_us for i in items] == sorted(i.event_us for i in items)
    assert {i.key for i in items if i.topic == "quotes"} == {"SPY", "QQQ", "IWM", "AAPL"}


def test_the_weekly_stock_lists_only_the_friday_expiry(market: MarketDay) -> None:
    assert weekly_expiry(date(2026, 11, 24)) == date(2026, 11, 27)
    assert weekly_expiry(date(2026, 11, 27)) == date(2026, 11, 27)
    assert weekly_expiry(date(2026, 11, 28)) == date(2026, 12, 4)
    assert {q.expiry for q in market.day("AAPL").quotes if q.expiry} == {"2026-11-27"}
    assert {q.expiry for q in market.day("QQQ").quotes if q.expiry} == {"2026-11-24"}
    # three days more to run: worth more than the same day's contract at the same moneyness
    call = next(q for q in market.day("AAPL").quotes if q.option_type == "call")
    priced_0dte = generate_day(OPEN, CLOSE, seed=market.day("AAPL").seed, underlying="AAPL",
                               start_price=AAPL.start_price, annual_vol=AAPL.annual_vol,
                               strike_step=AAPL.strike_step, quote_every_s=1800.0)
    same = next(q for q in priced_0dte.quotes if q.option_type == "call")
    assert same.strike == call.strike and call.ask > same.ask


def test_the_nearest_expiry_rule_picks_the_weekly_and_can_be_refused(market: MarketDay) -> None:
    first = market.day("AAPL").quotes[0].ts_us
    snapshot = [q for q in market.day("AAPL").quotes if q.ts_us == first]
    spot = snapshot[0].bid
    chain = [ChainQuote(q.symbol, str(q.option_type), float(q.strike or 0), str(q.expiry), q.bid,
                        q.ask, q.ts_us, q.bid_size, q.ask_size, q.iv, q.delta)
             for q in snapshot[1:]]
    picked = choose(chain, spot, "bullish", date(2026, 11, 24), first)
    assert picked.ok and picked.expiry == "2026-11-27"
    assert picked.contract is not None and picked.contract.symbol.startswith("AAPL261127C")
    refused = choose(chain, spot, "bullish", date(2026, 11, 24), first,
                     ContractRule(allow_later_expiry=False))
    assert not refused.ok and "later expiries not allowed" in refused.reason


def test_pair_posts_name_two_underlyings_and_lean_only_when_both_events_agree() -> None:
    # a short session packed with events: the two tickers' lead windows overlap often
    short = generate_market_day(OPEN, datetime(2026, 11, 24, 16, 30, tzinfo=UTC), seed=3,
                                underlyings=[SPY, QQQ], events=9, pair_posts_per_hour=120,
                                quote_every_s=3600.0)
    leaning = 0
    for post in short.pair_posts:
        text = str(post["text"])
        assert sorted(extract_tickers(text, frozenset())) == ["QQQ", "SPY"]
        direction = pair_direction(text)
        assert direction is not None
        signs = {_lead_sign(short, ticker, int(str(post["created_at_us"])))
                 for ticker in ("SPY", "QQQ")}
        if direction:
            leaning += 1
            assert signs == {direction}
        else:
            assert len(signs) == 2 or signs == {0}
    assert leaning > 5 and len(short.pair_posts) > 100


def _lead_sign(market: MarketDay, ticker: str, ts: int) -> int:
    day = market.day(ticker)
    return next((int(math.copysign(1, ret)) for at, ret in day.drift_events
                 if at - day.lead_s * 1e6 <= ts < at), 0)


@pytest.mark.parametrize(("underlyings", "rate", "match"), [
    ([], 6.0, "at least one"),
    ([SPY, SPY], 6.0, "distinct"),
    ([SPY, QQQ], math.nan, "pair_posts_per_hour"),
    ([SPY, QQQ], -1.0, "pair_posts_per_hour"),
])
def test_bad_market_days_are_refused(underlyings: list[UnderlyingSpec], rate: float,
                                     match: str) -> None:
    with pytest.raises(ValueError, match=match):
        generate_market_day(OPEN, CLOSE, seed=1, underlyings=underlyings,
                            pair_posts_per_hour=rate)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"ticker": "spy", "start_price": 1.0}, "capital letters"),
    ({"ticker": "SPY", "start_price": 1.0, "expiry": "monthly"}, "daily"),
])
def test_bad_underlyings_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        UnderlyingSpec(**kwargs)  # type: ignore[arg-type]


def test_an_expiry_before_the_session_is_refused() -> None:
    with pytest.raises(ValueError, match="before the session"):
        generate_day(OPEN, CLOSE, seed=1, expiry=date(2026, 11, 23))


def test_the_demo_generates_spy_and_qqq_by_default_and_names_an_unknown_underlying() -> None:
    from stocktracker.domain.market_hours import MarketCalendar
    from stocktracker.streams.commands.demo import DemoOptions, demo_day, demo_underlyings

    session = MarketCalendar().session_on(date(2026, 11, 24))
    assert session is not None
    assert DemoOptions().underlyings == ("SPY", "QQQ")
    day = demo_day(session, 7)
    assert [d.underlying for d in day.days] == ["SPY", "QQQ"] and day.pair_posts
    assert demo_underlyings(" spy, aapl ,SPY") == ("SPY", "AAPL")
    with pytest.raises(ValueError, match="TSLA"):
        demo_underlyings("SPY,TSLA")
    with pytest.raises(ValueError, match="choose from"):
        demo_underlyings(" , ")
