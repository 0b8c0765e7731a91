"""0DTE expiry at the close: intrinsic-value settlement fills."""

from __future__ import annotations

from datetime import date

import pytest

from stocktracker.domain.performance import equity_curve
from stocktracker.domain.settlement import intrinsic, is_settlement, settle_expiring

DAY = date(2026, 11, 24)
CLOSE = 1_795_554_000_000_000  # 16:00 New York on DAY
CALL_590 = "SPY261124C00590000"
PUT_592 = "SPY261124P00592000"
PUT_580 = "SPY261124P00580000"
TOMORROW = "SPY261125C00590000"


def test_intrinsic_value() -> None:
    assert intrinsic("call", 590.0, 591.37) == pytest.approx(1.37)
    assert intrinsic("call", 590.0, 589.0) == 0.0
    assert intrinsic("put", 592.0, 591.37) == pytest.approx(0.63)
    assert intrinsic("put", 580.0, 591.37) == 0.0
    with pytest.raises(ValueError, match="option_type"):
        intrinsic("straddle", 1.0, 1.0)


def test_todays_contracts_settle_at_intrinsic_and_others_stay_open() -> None:
    positions = {CALL_590: {"qty": 3, "avg_price": 1.10}, PUT_592: {"qty": 1, "avg_price": 0.5},
                 PUT_580: {"qty": 2, "avg_price": 0.05}, TOMORROW: {"qty": 4, "avg_price": 2.0},
                 "SPY261124C00600000": {"qty": 0, "avg_price": 0.0}}

    fills = {f["symbol"]: f for f in settle_expiring(positions, {"SPY": 591.37}, DAY, CLOSE)}

    assert set(fills) == {CALL_590, PUT_592, PUT_580}
    call = fills[CALL_590]
    assert (call["side"], call["qty"], call["price"], call["commission"], call["event_time"]) == (
        "sell", 3, 1.37, 0.0, CLOSE)
    assert (call["underlying"], is_settlement(call["client_order_id"])) == ("SPY", True)
    assert fills[PUT_592]["price"] == 0.63
    assert fills[PUT_580]["price"] == 0.0


def test_settlement_ids_are_deterministic_and_per_contract() -> None:
    positions = {CALL_590: {"qty": 1}, PUT_592: {"qty": 1}}
    first = settle_expiring(positions, {"SPY": 590.0}, DAY, CLOSE)
    again = settle_expiring(positions, {"SPY": 590.0}, DAY, CLOSE)

    assert [f["client_order_id"] for f in first] == [f["client_order_id"] for f in again]
    assert len({f["client_order_id"] for f in first}) == 2
    assert not is_settlement("sig-123")


def test_a_short_position_is_bought_back() -> None:
    (fill,) = settle_expiring({PUT_592: {"qty": -2}}, {"SPY": 590.0}, DAY, CLOSE)
    assert (fill["side"], fill["qty"], fill["price"]) == ("buy", 2, 2.0)


def test_a_missing_closing_price_is_an_error() -> None:
    with pytest.raises(ValueError, match="SPY"):
        settle_expiring({CALL_590: {"qty": 1}}, {"QQQ": 500.0}, DAY, CLOSE)


def test_settled_account_holds_only_cash() -> None:
    buy = {"client_order_id": "A", "symbol": CALL_590, "underlying": "SPY", "side": "buy", "qty": 2,
           "price": 1.00, "commission": 1.30, "event_time": CLOSE - 60_000_000}
    settle = settle_expiring({CALL_590: {"qty": 2}}, {"SPY": 592.0}, DAY, CLOSE)
    marks = [(CLOSE - 30_000_000, CALL_590, 1.9)]

    curve = equity_curve(1_000.0, [buy, *settle], marks)

    assert curve[-1] == (CLOSE, pytest.approx(1_000.0 - 200.0 - 1.30 + 400.0))
