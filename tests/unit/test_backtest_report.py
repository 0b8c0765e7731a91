"""The report on disk: JSON without NaN, one self-contained HTML page with inline SVG charts."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stocktracker.domain.latency import summarize
from stocktracker.domain.performance import build_report, trades_from_fills
from stocktracker.streams.commands.backtest_report import ChartData, json_safe, write_report
from stocktracker.streams.commands.svg_chart import nice_ticks

MIN = 60_000_000
T0 = 1_796_049_000_000_000  # 2026-11-30 09:30 New York
CALL = "SPY261130C00590000"
EVIL = "<script>alert('x')</script>"


def _fill(coid: str, side: str, qty: int, price: float, at: int) -> dict[str, Any]:
    return {"client_order_id": coid, "symbol": CALL, "underlying": "SPY", "side": side, "qty": qty,
            "price": price, "commission": 0.65 * qty, "event_time": at}


@pytest.fixture
def run() -> tuple[dict[str, Any], ChartData]:
    """A small day: two round trips (a win, a loss), prices, sentiment and latency."""
    fills = [_fill("A", "buy", 2, 1.00, T0 + 10 * MIN), _fill("X", "sell", 2, 1.60, T0 + 40 * MIN),
             _fill("B", "buy", 1, 2.00, T0 + 100 * MIN), _fill("Y", "sell", 1, 1.20, T0 + 150 * MIN)]
    orders = {"A": {"signal_id": "sig-1", "reason": EVIL}, "X": {"reason": "take_profit"},
              "B": {"signal_id": "sig-2", "reason": "bullish & rising"}, "Y": {"reason": "stop_loss"}}
    trades = trades_from_fills(fills, orders)
    equity = [(T0 + i * MIN, 10_000.0 + 50 * math.sin(i / 20)) for i in range(390)]
    report: dict[str, Any] = {
        "title": "Backtest <2026-11-30>", "seed": 7, "nan_extra": float("nan"),
        **build_report(equity, trades).to_dict(),
        "trade_list": [t.to_dict() for t in trades],
        "latency": {"score": summarize([1.0, 2.0, 30.0]), "execute": summarize([])},
        "skill": {"posts": 40, "no_market": {"300": 2}, "models": {EVIL: {"300": {
            "n": 38, "ic": 0.42, "ic_interval": [0.21, 0.6], "hit_rate": 0.7, "hits": 14, "calls": 20,
            "hit_interval": [0.48, 0.85], "sorting": None, "calibration": []}}}},
    }
    price = [(T0 + i * MIN, 590.0 + math.cos(i / 30)) for i in range(390)]
    sentiment = [(T0 + i * 5 * MIN, math.sin(i / 7)) for i in range(78)]
    return report, ChartData(equity=equity, price=price, sentiment=sentiment)


def test_json_has_the_metrics_and_no_nan(run: tuple[dict[str, Any], ChartData], tmp_path: Path) -> None:
    report, charts = run
    json_path, _ = write_report(report, tmp_path / "out", charts)

    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in report.json")

    data = json.loads(json_path.read_text(encoding="utf-8"), parse_constant=refuse)
    assert {"total_return", "sharpe", "max_drawdown", "win_rate", "trades"} <= set(data)
    assert data["trades"] == 2 and data["win_rate"] == 0.5
    assert data["nan_extra"] is None and data["latency"]["execute"]["p50"] is None
    assert [t["signal_id"] for t in data["trade_list"]] == ["sig-1", "sig-2"]
    assert data["trade_list"][0]["entry_reason"] == EVIL


def test_html_is_self_contained_with_svg_charts(run: tuple[dict[str, Any], ChartData],
                                                tmp_path: Path) -> None:
    report, charts = run
    _, html_path = write_report(report, tmp_path, charts)
    html = html_path.read_text(encoding="utf-8")

    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 4  # equity, drawdown, sentiment vs price, trades on price
    for svg in svgs:
        ET.fromstring(svg)  # well-formed
    assert not re.search(r"https?://|<script|<link|src=", html, flags=re.I)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "bullish &amp; rising" in html and "Backtest &lt;2026-11-30&gt;" in html
    assert "(right axis)" in svgs[2]  # sentiment on its own y-axis
    assert svgs[3].count("#1a7f37") == 2 and svgs[3].count("#cf222e") == 2  # 2 entries, 2 exits
    assert "sig-2" in html and "stop_loss" in html and "p99 ms" in html
    skill = html[html.index("<h2>Model skill</h2>"):html.index("<h2>Latency</h2>")]
    cells = re.findall(r"<td>(.*?)</td>", skill)
    assert cells == ["&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;", "5m", "38", "+0.420",
                     "[+0.21, +0.60]", "70%", "20", "-"]


def test_a_day_without_trades_or_prices_still_renders(tmp_path: Path) -> None:
    report = build_report([(T0, 1000.0)], []).to_dict()
    json_path, html_path = write_report(report, tmp_path, ChartData(equity=[(T0, 1000.0)]))

    html = html_path.read_text(encoding="utf-8")
    assert json.loads(json_path.read_text(encoding="utf-8"))["sharpe"] is None
    assert html.count("<svg") == 2 and "No closed trades." in html and "No traces." in html


def test_json_safe_converts_what_json_cannot_hold() -> None:
    value = {"a": (np.float64(1.5), np.float64("nan"), np.int64(3)), "b": [math.inf, -math.inf], 4: True}
    assert json_safe(value) == {"a": [1.5, None, 3], "b": [None, None], "4": True}


def test_ticks_are_round_and_cover_the_range() -> None:
    assert nice_ticks(589.37, 591.9) == [589.0, 590.0, 591.0, 592.0]
    assert nice_ticks(-0.031, 0.0) == [-0.04, -0.03, -0.02, -0.01, 0.0]
    assert len(nice_ticks(5.0, 5.0)) >= 2


def test_chart_titles_are_escaped_once(tmp_path: Path) -> None:
    equity, price = [(T0, 1000.0), (T0 + MIN, 1001.0)], [(T0, 5.0), (T0 + MIN, 5.5)]
    _, html_path = write_report({}, tmp_path, ChartData(equity=equity, price=price, underlying="S&P"))

    html = html_path.read_text(encoding="utf-8")
    assert "Trades on S&amp;P" in html and "&amp;amp;" not in html
