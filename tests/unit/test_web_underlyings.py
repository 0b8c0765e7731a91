"""The dashboard's per-underlying summary: each ticker's sentiment, signals and positions
apart, their premium summed as the account-wide limits count it."""

from __future__ import annotations

from stocktracker.streams import samples as r
from stocktracker.streams.core.trace import now_us
from stocktracker.web import report
from stocktracker.web.underlyings import by_underlying
from stocktracker.web.view import DashboardView


def qqq(record: dict[str, object]) -> dict[str, object]:
    """A sample record moved to QQQ (its ticker, underlying and OCC symbol)."""
    moved = {**record}
    for key in ("ticker", "underlying"):
        if key in moved:
            moved[key] = "QQQ"
    if "symbol" in moved:
        moved["symbol"] = str(moved["symbol"]).replace("SPY", "QQQ").replace("590", "510")
    return moved


def test_each_underlying_gets_its_own_row() -> None:
    view = DashboardView()
    for sentiment in (r.sentiment("SPY", 0.4), r.sentiment("QQQ", -0.3, posts=9)):
        # the sentiment event (a window with an LLM read also gives a volatility event)
        event = next(e for e in view.apply("sentiment", sentiment, now_us())
                     if e.name == "sentiment_update")
        view.add_sentiment_point(event.payload)  # as the hub keeps what it sent
    view.apply("signals", r.signal("SPY:bullish:1"), now_us())
    view.apply("signals", qqq(r.signal("QQQ:bearish:1")), now_us())
    view.apply("signals", qqq(r.signal("QQQ:bearish:2")), now_us())
    view.apply("positions", r.position(qty=2, avg=1.25, realized=0.0), now_us())
    view.apply("positions", qqq(r.position(qty=3, avg=0.5, realized=-4.0)), now_us())
    view.apply("quotes", qqq(r.quote(bid=0.6, ask=0.7)), now_us())  # QQQ's call marked up

    rows = {row["ticker"]: row for row in by_underlying(view)}
    assert list(rows) == ["QQQ", "SPY"]
    spy, q = rows["SPY"], rows["QQQ"]
    assert (spy["mean"], spy["signals"], spy["open_contracts"], spy["open_premium"]) \
        == (0.4, 1, 2, 250.0)
    assert (q["mean"], q["posts"], q["signals"], q["open_contracts"], q["open_premium"]) \
        == (-0.3, 9, 2, 3, 150.0)
    assert q["realized"] == -4.0 and q["unrealized"] == 45.0  # 3 x (0.65 - 0.5) x 100
    assert spy["realized"] == 0.0 and spy["unrealized"] == 0.0  # QQQ's quote moved only QQQ
    assert report.positions(view)["underlyings"] == by_underlying(view)


def test_a_ticker_with_only_a_signal_still_shows_and_closed_positions_count_no_premium() -> None:
    view = DashboardView()
    view.apply("signals", qqq(r.signal("QQQ:bullish:1")), now_us())
    view.apply("positions", r.position(qty=0, avg=1.25, realized=12.5), now_us())
    rows = {row["ticker"]: row for row in by_underlying(view)}
    assert rows["QQQ"]["decayed"] is None and rows["QQQ"]["signals"] == 1
    assert (rows["SPY"]["open_contracts"], rows["SPY"]["open_premium"], rows["SPY"]["realized"]) \
        == (0, 0.0, 12.5)
