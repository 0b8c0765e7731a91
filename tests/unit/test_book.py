"""The book applies every execution once, whatever repeats and whoever repeats it."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stocktracker.domain.book import Fill, FillError, Position, apply, day_pnl

SYMBOL = "SPY261124C00590000"
DAY = "2026-11-24"


def fill(coid: str, side: str, qty: int, price: float, cum: int = 0, exec_id: str = "",
         commission: float = 0.65, at: int = 1) -> Fill:
    return Fill(coid, "SPY", SYMBOL, side, qty, price, round(commission * qty, 2), exec_id, cum,
                at)


def run(fills: list[Fill], day: str = DAY) -> Position:
    position = Position(SYMBOL)
    for f in fills:
        position = apply(position, f, day).position
    return position


def money(p: Position) -> tuple[int, float, float, float, float]:
    return (p.qty, round(p.avg_price, 9), round(p.realized_pnl, 9), round(p.commission, 9),
            round(p.day_realized, 9))


def test_a_round_trip_books_pnl_and_commission_once_each() -> None:
    buy = fill("st-a", "buy", 5, 2.00, cum=5, exec_id="x1")
    sell = fill("ex-a", "sell", 5, 3.50, cum=5, exec_id="x2")
    position = run([buy, sell])
    assert position.qty == 0
    assert position.realized_pnl == pytest.approx(750.0 - 6.50)
    assert position.commission == pytest.approx(6.50)
    assert position.day_realized == pytest.approx(743.50)


def test_a_redelivered_round_trip_changes_nothing() -> None:
    buy = fill("st-a", "buy", 5, 2.00, cum=5, exec_id="x1")
    sell = fill("ex-a", "sell", 5, 3.50, cum=5, exec_id="x2")
    assert money(run([buy, sell, buy, sell, buy])) == money(run([buy, sell]))


def test_the_same_execution_seen_by_polling_without_an_id_is_not_applied_again() -> None:
    streamed = fill("st-a", "buy", 2, 2.00, cum=2, exec_id="x1")
    polled = fill("st-a", "buy", 2, 2.00, cum=2)  # the poll saw only the order's totals
    rest = fill("st-a", "buy", 3, 2.10, cum=5, exec_id="x2")
    assert run([streamed, polled, rest]).qty == 5
    assert run([polled, streamed, rest]).qty == 5


def test_a_poll_that_merged_two_fills_applies_only_the_part_not_seen() -> None:
    first = fill("st-a", "buy", 2, 2.00, cum=2, exec_id="x1")
    merged = fill("st-a", "buy", 5, 2.06, cum=5)  # the poll's one fill for cum 0 -> 5
    position = run([first, merged])
    assert position.qty == 5
    assert position.commission == pytest.approx(1.30 + 3.25 * 3 / 5)


def test_a_statement_moves_the_quantity_once_and_realises_nothing() -> None:
    buy = fill("st-a", "buy", 5, 2.00, cum=5, exec_id="x1")
    statement = Fill("reconcile:SPY261124C00590000:9", "SPY", SYMBOL, "buy", 3, 2.0, 0.0,
                     "reconcile:SPY261124C00590000:9", 0, 9)
    sell = fill("ex-a", "sell", 3, 2.50, cum=3, exec_id="x2")
    position = run([buy, statement, sell, statement])  # redelivered after the sell
    assert position.qty == 0
    assert position.realized_pnl == pytest.approx(150.0 - 3.25 - 1.95)


def test_day_pnl_counts_only_that_session_day() -> None:
    yesterday = run([fill("st-a", "buy", 1, 2.0, 1, "x1"), fill("ex-a", "sell", 1, 1.0, 1, "x2")],
                    day="2026-11-23")
    today = apply(yesterday, fill("st-b", "buy", 1, 2.0, 1, "x3"), DAY).position
    assert yesterday.day_realized == pytest.approx(-101.30)
    assert today.day_realized == pytest.approx(-0.65)
    book = {"a": yesterday.to_record(), "b": {**today.to_record(), "day_realized": -5.0}}
    assert day_pnl(book, "2026-11-23") == pytest.approx(-101.30)
    assert day_pnl(book, DAY) == pytest.approx(-5.0)


def test_a_position_round_trips_through_its_table_record() -> None:
    position = run([fill("st-a", "buy", 2, 2.0, 2, "x1")])
    assert Position.from_record(SYMBOL, position.to_record()) == position


@pytest.mark.parametrize("field,value", [("price", float("nan")), ("price", float("inf")),
                                         ("price", -1.0), ("commission", float("nan")),
                                         ("side", "short"), ("qty", -1)])
def test_a_fill_with_a_bad_number_or_side_is_refused(field: str, value: object) -> None:
    good = fill("st-a", "buy", 1, 2.0).to_record()
    with pytest.raises(FillError):
        Fill.from_record({**good, field: value})


# ---- property: duplicates anywhere give the book without them ------------------------------

@st.composite
def fill_sequences(draw: st.DrawFn) -> tuple[list[Fill], list[Fill]]:
    """Unique executions of a few orders (buys and sells that never go short), then the same
    list with repeats inserted anywhere after their first delivery: exact copies (a
    redelivery, Alpaca's re-sent update) and id-less copies (a poll's view of the order)."""
    fills: list[Fill] = []
    held, n = 0, 0
    for order in range(draw(st.integers(1, 6))):
        side = "buy" if held == 0 or draw(st.booleans()) else "sell"
        cum = 0
        for _ in range(draw(st.integers(1, 3))):
            qty = draw(st.integers(1, 5)) if side == "buy" else min(held, draw(st.integers(1, 5)))
            if qty == 0:
                break
            cum += qty
            held += qty if side == "buy" else -qty
            n += 1
            price = draw(st.floats(0.05, 20.0, allow_nan=False)).__round__(2)
            fills.append(fill(f"o{order}", side, qty, price, cum, f"x{n}", at=n))
    delivered = list(fills)
    for _ in range(draw(st.integers(0, 12))):
        original = draw(st.integers(0, len(fills) - 1))
        copy = fills[original]
        if draw(st.booleans()):
            copy = replace(copy, execution_id="")
        first = delivered.index(fills[original])
        delivered.insert(draw(st.integers(first + 1, len(delivered))), copy)
    return fills, delivered


@settings(max_examples=300, deadline=None)
@given(fill_sequences())
def test_any_fill_sequence_with_duplicates_gives_the_same_book(
        sequences: tuple[list[Fill], list[Fill]]) -> None:
    unique, delivered = sequences
    assert money(run(delivered)) == money(run(unique))
