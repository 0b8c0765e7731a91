"""A backtest's report on disk: ``report.json`` and a self-contained ``report.html``.

The page needs nothing but a browser: its charts are inline SVG drawn here, it loads no
script, style sheet or font, and every piece of text from the run is escaped.

The report dict is :meth:`domain.performance.Report.to_dict` plus, when there are any,
``trade_list`` (:meth:`domain.performance.Trade.to_dict` of each trade) and ``latency``
(stage -> :func:`domain.latency.summarize`), ``benchmark`` (name ->
:meth:`domain.benchmark.Benchmark.to_dict`) and ``days`` (:meth:`domain.benchmark.DayRow.to_dict`
of each day); other top-level scalars (a run id, a seed)
are listed under the metrics.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from stocktracker.domain.performance import drawdowns
from stocktracker.streams.commands.svg_chart import Line, Marker, line_chart

_NY = ZoneInfo("America/New_York")
GREEN, RED, BLUE, ORANGE = "#1a7f37", "#cf222e", "#0969da", "#bc4c00"
_PCT = ("total_return", "max_drawdown", "win_rate", "exposure")
_MONEY = ("start_equity", "end_equity", "avg_win", "avg_loss", "fees", "pnl")
_METRICS = ("total_return", "sharpe", "sortino", "max_drawdown", "win_rate", "avg_win", "avg_loss",
            "profit_factor", "trades", "exposure", "fees", "start_equity", "end_equity",
            "periods_per_year", "bars")


@dataclass(frozen=True, slots=True)
class ChartData:
    """The time series the charts draw, each ``(ts_us, value)`` in time order.

    Attributes
    ----------
    equity:
        The equity curve.
    price:
        The underlying's price (trades are marked on it).
    sentiment:
        The aggregated sentiment the signals came from.
    underlying:
        The underlying's ticker, for the chart titles.
    """

    equity: Sequence[tuple[int, float]]
    price: Sequence[tuple[int, float]] = ()
    sentiment: Sequence[tuple[int, float]] = ()
    underlying: str = "SPY"


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``, tuples as lists, dates as ISO strings,
    dataclasses as dicts and numpy scalars as Python numbers."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, bool | int | str) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalar
        return json_safe(value.item())
    number = float(value)
    return number if math.isfinite(number) else None


def write_report(report: Mapping[str, Any], directory: Path, charts: ChartData) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``directory`` (made if missing).

    Returns
    -------
    The paths of the JSON and the HTML files.
    """
    directory.mkdir(parents=True, exist_ok=True)
    safe = json_safe(report)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(json.dumps(safe, indent=2, allow_nan=False), encoding="utf-8")
    html_path.write_text(render_html(safe, charts), encoding="utf-8")
    return json_path, html_path


def _time(ts_us: Any) -> str:
    if not isinstance(ts_us, int):
        return ""
    return datetime.fromtimestamp(ts_us / 1e6, tz=_NY).strftime("%Y-%m-%d %H:%M:%S")


def _fmt(key: str, value: Any) -> str:
    """A value for a table cell, formatted by what ``key`` says it is."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if key in _PCT:
        return f"{value * 100:.2f} %"
    if key in _MONEY:
        return f"-${-value:,.2f}" if value < 0 else f"${value:,.2f}"
    if key == "price":  # cents, more digits for an average price
        return f"{value:.2f}" if round(value, 2) == value else f"{value:.4f}"
    if isinstance(value, int) or key == "periods_per_year":
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return f"{value:,.3f}"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], row_class: Sequence[str] = ()) -> str:
    """An HTML table; cells are escaped here."""
    out = ["<table><thead><tr>", *(f"<th>{escape(h)}</th>" for h in head), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        css = f' class="{escape(row_class[i])}"' if i < len(row_class) else ""
        out.append(f"<tr{css}>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary(report: Mapping[str, Any]) -> str:
    keys = [k for k in _METRICS if k in report]
    keys += [k for k, v in report.items() if k not in _METRICS and not isinstance(v, dict | list)]
    return _table(("metric", "value"), [(k.replace("_", " "), _fmt(k, report[k])) for k in keys])


def _trades(trades: Sequence[Mapping[str, Any]]) -> str:
    if not trades:
        return "<p>No closed trades.</p>"
    head = ("entry", "exit", "symbol", "qty", "entry price", "exit price", "P&L", "fees", "signal",
            "entry reason", "exit reason")
    rows = [(_time(t.get("entry_us")), _time(t.get("exit_us")), str(t.get("symbol", "")),
             str(t.get("qty", "")), _fmt("price", t.get("entry_price")), _fmt("price", t.get("exit_price")),
             _fmt("pnl", t.get("pnl")), _fmt("fees", t.get("fees")), str(t.get("signal_id", "")),
             str(t.get("entry_reason", "")), str(t.get("exit_reason", ""))) for t in trades]
    return _table(head, rows, ["win" if (t.get("pnl") or 0) > 0 else "loss" for t in trades])


def _skill(skill: Mapping[str, Any]) -> str:
    models = skill.get("models") or {}
    if not models:
        return "<p>No scored posts.</p>"

    def num(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    rows = [(model, f"{int(h) // 60}m", str(f["n"]), num(f["ic"], "+.3f"),
             "-" if not f["ic_interval"] else f"[{f['ic_interval'][0]:+.2f}, {f['ic_interval'][1]:+.2f}]",
             num(f["hit_rate"], ".0%"), str(f["calls"]), num(f["sorting"], "+.2f"))
            for model, horizons in models.items() for h, f in horizons.items()]
    note = ("<p>IC: rank correlation of each post's score with the underlying's return over the "
            "horizon; hit rate on posts whose |score| reaches the signal threshold; the last "
            "column: how well confidence sorts the hits (docs/operations.md, \"Model skill\").</p>")
    return note + _table(("model", "horizon", "posts", "IC", "IC 95%", "hit rate", "calls",
                          "conf. sorts"), rows)


def _benchmark(report: Mapping[str, Any]) -> str:
    benchmarks = report.get("benchmark") or {}
    if not benchmarks:
        return "<p>No benchmark (no quotes of the underlying).</p>"
    rows = [("strategy", _fmt("end_equity", report.get("end_equity")),
             _fmt("total_return", report.get("total_return")),
             _fmt("max_drawdown", report.get("max_drawdown")), "")]
    for name, b in benchmarks.items():
        held = f"{b['shares']:,} at {_fmt('price', b['entry_price'])} → {_fmt('price', b['exit_price'])}" \
            if b.get("shares") else ""
        rows.append((name.replace("_", " "), _fmt("end_equity", b.get("end_equity")),
                     _fmt("total_return", b.get("total_return")),
                     _fmt("max_drawdown", b.get("max_drawdown")), held))
    return _table(("", "end equity", "return", "max drawdown", "shares"), rows)


def _days(days: Sequence[Mapping[str, Any]]) -> str:
    if not days:
        return "<p>No days.</p>"
    rows = [(str(d.get("day", "")), str(d.get("trades", "")), _fmt("pnl", d.get("pnl")),
             _fmt("total_return", d.get("return")), _fmt("total_return", d.get("underlying_return")),
             _fmt("max_drawdown", d.get("max_drawdown")), _fmt("fees", d.get("fees")),
             _fmt("end_equity", d.get("end_equity"))) for d in days]
    return _table(("day", "trades", "P&L", "return", "underlying", "max drawdown", "fees",
                   "end equity"), rows, ["win" if (d.get("pnl") or 0) > 0 else
                                         "loss" if (d.get("pnl") or 0) < 0 else "" for d in days])


def _latency(latency: Mapping[str, Mapping[str, Any]]) -> str:
    if not latency:
        return "<p>No traces.</p>"
    cols = ("n", "p50", "p95", "p99", "max")
    rows = [(stage, *(_fmt("", stats.get(c)) for c in cols)) for stage, stats in latency.items()]
    return _table(("stage", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"), rows)


def _at(series: Sequence[tuple[int, float]], ts_us: int) -> float | None:
    """The series' value at or just before ``ts_us`` (its first value before it starts)."""
    if not series:
        return None
    i = bisect.bisect_right([t for t, _ in series], ts_us)
    return series[max(i - 1, 0)][1]


def _trade_markers(trades: Sequence[Mapping[str, Any]], price: Sequence[tuple[int, float]]) -> list[Marker]:
    markers = []
    for t in trades:
        for key, color, up, what in (("entry_us", GREEN, True, "entry"), ("exit_us", RED, False, "exit")):
            ts = t.get(key)
            y = _at(price, ts) if isinstance(ts, int) else None
            if y is not None and isinstance(ts, int):
                label = f"{what} {t.get('symbol', '')} x{t.get('qty', '')} P&L {_fmt('pnl', t.get('pnl'))}"
                markers.append(Marker(ts, y, color, label, up))
    return markers


def _charts(charts: ChartData, trades: Sequence[Mapping[str, Any]]) -> list[str]:
    equity = list(charts.equity)
    dd = [(t, d * 100) for (t, _), d in zip(equity, drawdowns([v for _, v in equity]), strict=True)]
    name = charts.underlying
    out = [line_chart("Equity ($)", [Line("equity", equity, BLUE)]),
           line_chart("Drawdown (%)", [Line("drawdown", dd, RED, area=True)])]
    if charts.price or charts.sentiment:
        out.append(line_chart(f"Sentiment vs {name}", [Line(f"{name} price", charts.price, BLUE),
                                                        Line("sentiment", charts.sentiment, ORANGE,
                                                             right=True)]))
    if charts.price:
        out.append(line_chart(f"Trades on {name} (green: entry, red: exit)",
                              [Line(f"{name} price", charts.price, BLUE)],
                              _trade_markers(trades, charts.price)))
    return out


# --- inline SVG line charts ------------------------------------------------------------

_CSS = """body{font:14px system-ui,sans-serif;margin:24px;color:#1f2328}
table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #d0d7de;padding:3px 8px;
text-align:right}th{background:#f6f8fa}td:first-child,th:first-child{text-align:left}
tr.win td{background:#e6ffec}tr.loss td{background:#ffebe9}svg{display:block;margin:8px 0 16px}
.grid{stroke:#eaeef2}.axis{font-size:11px;fill:#57606a}.title{font-size:13px;font-weight:600}"""


def render_html(report: Mapping[str, Any], charts: ChartData) -> str:
    """The report page (``report`` already JSON-safe)."""
    trades = report.get("trade_list") or []
    title = escape(str(report.get("title", "Backtest report")))
    body = [f"<h1>{title}</h1>", "<h2>Summary</h2>", _summary(report),
            "<h2>Benchmark</h2>", _benchmark(report), "<h2>Days</h2>", _days(report.get("days") or []),
            "<h2>Charts</h2>", *_charts(charts, trades), "<h2>Trades</h2>", _trades(trades),
            "<h2>Model skill</h2>", _skill(report.get("skill") or {}),
            "<h2>Latency</h2>", _latency(report.get("latency") or {})]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
