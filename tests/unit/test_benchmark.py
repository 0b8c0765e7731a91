"""The report's benchmark rows and per-day table (domain/benchmark.py), on days built so
the answers are known, and backtests of items shaped like an import (derived quotes, no
recorded scores) through run_backtest."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from stocktracker.connectors.replay.source import ReplayItem
from stocktracker.domain.benchmark import buy_and_hold, day_rows, never_trading
from stocktracker.domain.market_hours import MarketCalendar
from stocktracker.domain.performance import Trade
from stocktracker.streams.commands.backtest import (
    bar_quote_limits,
    run_backtest,
    sessions_before,
    synthetic_items,
)
from stocktracker.streams.core.settings import SentimentSettings, Settings

DAY = sessions_before(date(2026, 11, 25), 1)[0]
SESSION = MarketCalendar().session_on(DAY)
assert SESSION is not None
MINUTE = 60_000_000
# the underlying's path: 100.00 ask at the open, 1 % up to a 101.00 bid at the close,
# through a dip to a 98.00 bid (a 2 % fall from the 100 $ paid)
PATH = [(SESSION.open_us, 99.99, 100.00), (SESSION.open_us + 30 * MINUTE, 98.00, 98.01),
        (SESSION.close_us - MINUTE, 101.00, 101.01)]


def settings() -> Settings:
    return Settings(kafka={"bootstrap_servers": "127.0.0.1:1"},  # type: ignore[arg-type]
                    sentiment=SentimentSettings(_env_file=None, finbert="off",  # type: ignore[call-arg]
                                                llm_calls_per_minute=0))


def test_buy_and_hold_buys_at_the_first_ask_and_sells_at_the_last_bid() -> None:
    hold = buy_and_hold(PATH, 100_000.0)
    # 1,000 shares at 100.00, sold at 101.00: +1 %; marked at the 98.00 bid on the way: -2 %
    assert (hold.shares, hold.entry_price, hold.exit_price) == (1_000, 100.00, 101.00)
    assert hold.end_equity == pytest.approx(101_000.0)
    assert hold.total_return == pytest.approx(0.01) and hold.max_drawdown == pytest.approx(-0.02)
    # the cash a whole share cannot use stays cash
    odd = buy_and_hold([(1, 33.0, 33.0), (2, 66.0, 66.0)], 100.0)
    assert (odd.shares, odd.end_equity) == (3, pytest.approx(1.0 + 3 * 66.0))
    assert never_trading(100_000.0).to_dict()["total_return"] == 0.0


def test_no_usable_quote_gives_no_figure_rather_than_a_wrong_one() -> None:
    nan = float("nan")
    assert buy_and_hold([(1, nan, 100.0), (2, 0.0, 0.0)], 100_000.0).total_return is None
    assert buy_and_hold([], 100_000.0).end_equity is None


def test_a_day_row_holds_the_days_pnl_trades_and_the_underlyings_move() -> None:
    curve = [(SESSION.open_us, 100_000.0), (SESSION.open_us + MINUTE, 100_500.0),
             (SESSION.open_us + 2 * MINUTE, 99_495.0), (SESSION.close_us, 100_200.0)]
    trade = Trade("SPY261124C00590000", "SPY", "call", 2, SESSION.open_us,
                  SESSION.open_us + 2 * MINUTE, 1.0, 2.0, 2.6, 197.4)
    [row] = day_rows(100_000.0, curve, [trade], PATH)
    assert (row.day, row.trades, row.fees) == (DAY, 1, 2.6)
    assert row.pnl == pytest.approx(200.0) and row.return_ == pytest.approx(0.002)
    assert row.max_drawdown == pytest.approx(99_495.0 / 100_500.0 - 1)  # from the day's peak
    assert row.underlying_return == pytest.approx(0.01)
    assert row.to_dict()["return"] == pytest.approx(0.002)


def test_a_strategy_that_never_trades_on_a_known_day() -> None:
    # imported-like: the underlying's derived quotes every minute, 100.00 ask at the open to
    # a 101.00 bid at the close, no options and no posts: no trade can be made
    steps = (SESSION.close_us - SESSION.open_us) // MINUTE
    items = []
    for n in range(steps):
        mid = 99.995 + 1.01 * n / (steps - 1)
        items.append(ReplayItem(SESSION.open_us + n * MINUTE, "quotes", "Quote", "SPY", {
            "symbol": "SPY", "underlying": "SPY", "bid": round(mid - 0.005, 4),
            "ask": round(mid + 0.005, 4), "bid_size": 100, "ask_size": 100, "derived": True,
            "event_time": SESSION.open_us + n * MINUTE, "trace": {}}))
    report = run_backtest(settings(), items).report
    assert report["failures"] == 0 and report["trades"] == 0
    hold, cash = report["benchmark"]["buy_and_hold"], report["benchmark"]["never_trading"]
    assert hold["total_return"] == pytest.approx(0.01) and hold["shares"] == 1_000
    assert cash["total_return"] == 0.0 and cash["end_equity"] == 100_000.0
    [day] = report["days"]
    assert (day["day"], day["trades"], day["pnl"], day["return"]) == (DAY.isoformat(), 0, 0.0, 0.0)
    assert day["underlying_return"] == pytest.approx(0.01)


def test_an_imported_day_trades_on_the_bar_after_each_decision() -> None:
    # a generated day whose quotes are all marked derived, as `import market` writes them,
    # and no recorded scores: the posts are scored, and no order fills on the bar it came from
    items = [replace(i, record={**i.record, "derived": True}) if i.topic == "quotes" else i
             for i in synthetic_items([DAY], 7)]
    result = run_backtest(settings(), items)
    orders = result.outcome.records["orders"]
    sent = {o["client_order_id"]: o["event_time"] for o in orders if o["status"] == "new"}
    filled = [o for o in orders if o["status"] == "filled"]
    assert result.report["failures"] == 0 and result.report["signals"] > 5 and filled
    assert all(o["event_time"] > sent[o["client_order_id"]] for o in filled
               if o["client_order_id"] in sent)
    assert result.report["days"][0]["trades"] == result.report["trades"]


def test_minute_bars_raise_the_quote_age_limits_and_a_larger_setting_is_kept() -> None:
    settings = Settings()
    raised, applied = bar_quote_limits(settings)
    assert applied == {"max_quote_age_s": 75.0, "stale_position_s": 75.0}
    assert raised.risk.max_quote_age_s == 75.0 and raised.trading.stale_position_s == 75.0
    assert settings.risk.max_quote_age_s == 30.0  # the caller's settings are not changed
    wide = settings.model_copy(update={"risk": settings.risk.model_copy(
        update={"max_quote_age_s": 120.0})})
    assert bar_quote_limits(wide)[1]["max_quote_age_s"] == 120.0
