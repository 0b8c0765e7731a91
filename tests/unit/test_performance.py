"""Backtest metrics (checked against empyrical), FIFO round trips from fills, the equity curve."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import empyrical
import numpy as np
import pytest

from stocktracker.domain.performance import (
    DAILY,
    MINUTE_BARS,
    Trade,
    build_report,
    daily_closes,
    drawdowns,
    equity_curve,
    exposure,
    returns,
    sharpe,
    sortino,
    trades_from_fills,
)
from stocktracker.domain.settlement import settle_expiring

MIN = 60_000_000
T0 = 1_796_049_000_000_000  # 2026-11-30 09:30 New York, a whole minute
CALL = "SPY261130C00590000"


def _curve(rets: np.ndarray, start: float = 100_000.0, step: int = MIN) -> list[tuple[int, float]]:
    values = start * np.concatenate([[1.0], np.cumprod(1 + rets)])
    return [(T0 + i * step, float(v)) for i, v in enumerate(values)]


def _fill(coid: str, side: str, qty: int, price: float, at: int, commission: float = 0.0,
          symbol: str = CALL) -> dict[str, Any]:
    return {"client_order_id": coid, "symbol": symbol, "underlying": "SPY", "side": side, "qty": qty,
            "price": price, "commission": commission, "event_time": at, "trace": {}}


def _trade(pnl: float, entry: int = 0, exit_: int = 1, fees: float = 0.0) -> Trade:
    return Trade(CALL, "SPY", "call", 1, entry, exit_, 1.0, 1.0 + pnl / 100, fees, pnl)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("periods", [DAILY, MINUTE_BARS])
def test_metrics_match_empyrical_on_the_same_returns(seed: int, periods: float) -> None:
    rets = np.random.default_rng(seed).normal(0.0005, 0.01, 500)
    report = build_report(_curve(rets), [], periods_per_year=periods)

    assert report.bars == 500
    assert report.sharpe == pytest.approx(empyrical.sharpe_ratio(rets, annualization=periods), rel=1e-9)
    assert report.sortino == pytest.approx(empyrical.sortino_ratio(rets, annualization=periods), rel=1e-9)
    assert report.max_drawdown == pytest.approx(empyrical.max_drawdown(rets), rel=1e-9)
    assert report.total_return == pytest.approx(empyrical.cum_returns_final(rets), rel=1e-9)


def test_default_annualisation_is_empyricals_daily() -> None:
    rets = np.random.default_rng(7).normal(0.001, 0.02, 60)
    assert sharpe(list(rets)) == pytest.approx(empyrical.sharpe_ratio(rets), rel=1e-9)
    assert sortino(list(rets)) == pytest.approx(empyrical.sortino_ratio(rets), rel=1e-9)


def test_drawdown_counts_a_fall_from_the_starting_equity() -> None:
    assert drawdowns([100.0, 90.0, 95.0, 120.0, 60.0]) == pytest.approx([0, -0.1, -0.05, 0, -0.5])
    assert build_report([(0, 100.0), (1, 90.0), (2, 94.5)], []).max_drawdown == pytest.approx(
        empyrical.max_drawdown(np.array([-0.1, 0.05])))


def test_trade_statistics_by_hand() -> None:
    trades = [_trade(200.0, fees=1.3), _trade(-100.0, fees=1.3), _trade(50.0, fees=0.65),
              _trade(-50.0, fees=0.65)]
    report = build_report([(0, 1000.0), (10, 1100.0)], trades)

    assert report.trades == 4
    assert report.win_rate == 0.5
    assert report.avg_win == 125.0
    assert report.avg_loss == -75.0
    assert report.profit_factor == pytest.approx(250 / 150)
    assert report.fees == pytest.approx(3.9)


def test_exposure_is_the_union_of_holding_times() -> None:
    trades = [_trade(1.0, 10, 20), _trade(1.0, 15, 30), _trade(1.0, 90, 120)]
    assert exposure(trades, 0, 100) == pytest.approx(0.3)
    assert build_report([(0, 1.0), (100, 1.0)], trades).exposure == pytest.approx(0.3)
    assert build_report([(0, 1.0), (100, 1.0)], trades, span_us=(0, 200)).exposure == pytest.approx(0.25)


def test_edge_cases_give_none_not_nan() -> None:
    flat = build_report([(T0 + i * MIN, 5000.0) for i in range(10)], [])
    single = build_report([(T0, 5000.0)], [])
    empty = build_report([], [])
    only_wins = build_report([(0, 1.0), (1, 2.0), (2, 3.0)], [_trade(10.0), _trade(5.0)])

    assert (flat.total_return, flat.max_drawdown, flat.sharpe, flat.sortino) == (0.0, 0.0, None, None)
    assert (flat.trades, flat.win_rate, flat.profit_factor, flat.exposure) == (0, None, None, 0.0)
    assert (single.bars, single.total_return, single.sharpe) == (0, 0.0, None)
    assert (empty.total_return, empty.max_drawdown, empty.exposure) == (None, None, None)
    assert only_wins.profit_factor is None and only_wins.avg_loss is None and only_wins.sortino is None
    for report in (flat, single, empty, only_wins):
        json.dumps(report.to_dict(), allow_nan=False)


def test_equity_must_stay_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        returns([100.0, 0.0, 50.0])


def test_fifo_pairing_with_partial_fills_and_two_entries() -> None:
    fills = [
        _fill("A", "buy", 3, 1.00, T0, commission=1.95),
        _fill("B", "buy", 2, 1.50, T0 + MIN, commission=1.30),
        _fill("Y", "sell", 1, 0.50, T0 + 5 * MIN, commission=0.65),
        _fill("X", "sell", 1, 2.00, T0 + 2 * MIN, commission=0.65),  # out of order on purpose
        _fill("X", "sell", 3, 2.00, T0 + 3 * MIN, commission=1.95),
    ]
    orders = {"A": {"signal_id": "sig-a", "reason": "bullish 0.8", "intent": "open"},
              "B": {"signal_id": "sig-b", "reason": None, "intent": "open"},
              "X": {"signal_id": "", "reason": "take_profit", "intent": "close"}}

    a_x, b_x, b_y = trades_from_fills(fills, orders)

    assert (a_x.qty, a_x.entry_us, a_x.exit_us, a_x.entry_price, a_x.exit_price) == (
        3, T0, T0 + 3 * MIN, 1.00, 2.00)
    assert a_x.fees == pytest.approx(3.90)
    assert a_x.pnl == pytest.approx(300 - 3.90)
    assert (a_x.signal_id, a_x.entry_reason, a_x.exit_reason, a_x.option_type) == (
        "sig-a", "bullish 0.8", "take_profit", "call")
    assert (b_x.qty, b_x.entry_us, b_x.exit_us, b_x.pnl) == (1, T0 + MIN, T0 + 3 * MIN,
                                                           pytest.approx(50 - 1.30))
    assert (b_y.qty, b_y.signal_id, b_y.entry_reason, b_y.exit_reason) == (1, "sig-b", "", "")
    assert b_y.pnl == pytest.approx(-100 - 1.30)


def test_partial_fills_of_one_round_trip_make_one_trade_at_average_prices() -> None:
    fills = [_fill("A", "buy", 2, 1.00, T0), _fill("A", "buy", 2, 1.20, T0 + 1),
             _fill("X", "sell", 1, 2.00, T0 + 2), _fill("X", "sell", 3, 1.80, T0 + 3),
             _fill("Z", "sell", 5, 9.99, T0 + 4)]  # nothing left to close: ignored

    (trade,) = trades_from_fills(fills)

    assert (trade.qty, trade.entry_us, trade.exit_us) == (4, T0, T0 + 3)
    assert trade.entry_price == pytest.approx(1.10)
    assert trade.exit_price == pytest.approx(1.85)
    assert trade.pnl == pytest.approx(300.0)


def test_open_lots_are_not_trades_and_a_bad_side_is_refused() -> None:
    assert trades_from_fills([_fill("A", "buy", 1, 1.0, T0)]) == []
    with pytest.raises(ValueError, match="side"):
        trades_from_fills([_fill("A", "short", 1, 1.0, T0)])


def test_a_settled_trade_is_closed_by_expiry() -> None:
    buy = _fill("A", "buy", 2, 1.00, T0)
    settle = settle_expiring({CALL: {"qty": 2, "avg_price": 1.0}}, {"SPY": 591.25}, date(2026, 11, 30),
                             T0 + 390 * MIN)

    (trade,) = trades_from_fills([buy, *settle])

    assert (trade.exit_reason, trade.exit_price, trade.exit_us) == ("expiry", 1.25, T0 + 390 * MIN)
    assert trade.pnl == pytest.approx(50.0)


def test_equity_curve_marks_open_contracts_per_minute() -> None:
    fills = [_fill("A", "buy", 1, 2.00, T0 + 30_000_000, commission=0.65),
             _fill("X", "sell", 1, 3.00, T0 + 3 * MIN, commission=0.65)]
    marks = [(T0 + 90_000_000, CALL, 2.50), (T0 + 150_000_000, "OTHER", 9.0)]

    curve = equity_curve(10_000.0, fills, marks)

    assert [t for t, _ in curve] == [T0, T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN]
    assert [v for _, v in curve] == pytest.approx([10_000.0, 9_999.35, 10_049.35, 10_098.70])


def test_equity_curve_samples_only_inside_sessions() -> None:
    day2 = T0 + 24 * 60 * MIN
    fills = [_fill("A", "buy", 1, 1.0, T0 + MIN), _fill("X", "sell", 1, 2.0, day2 + MIN)]
    sessions = [(T0, T0 + 2 * MIN + 5), (day2, day2 + 2 * MIN)]

    curve = equity_curve(1_000.0, fills, [], sessions=sessions)

    assert [t for t, _ in curve] == [T0, T0 + MIN, T0 + 2 * MIN, T0 + 2 * MIN + 5, day2, day2 + MIN,
                                     day2 + 2 * MIN]
    assert curve[-1][1] == pytest.approx(1_100.0)
    assert equity_curve(1.0, [], []) == []


def test_daily_closes_take_each_new_york_days_last_point() -> None:
    late = T0 + 10 * 60 * MIN  # 19:30 New York, still the same local day (00:30 UTC next day)
    curve = [(T0, 1.0), (late, 2.0), (T0 + 24 * 60 * MIN, 3.0)]
    assert daily_closes(curve) == [(date(2026, 11, 30), 2.0), (date(2026, 12, 1), 3.0)]
