"""The demo's live terminal display (rich)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

Refresh = Callable[[Any, float, float, date], None]


def render(monitor: Any, elapsed: float, speed: float, day: date) -> Group:
    """Counts, P&L, latency and the latest signal/order as rich tables."""
    counts = Table(title=f"stock-tracker demo · {day} · {speed:.0f}x · {elapsed:5.1f}s")
    for name in ("posts", "scores", "signals", "orders", "fills", "deadletter", "quotes"):
        counts.add_column(name, justify="right")
    counts.add_row(*(str(monitor.counts.get(n, 0)) for n in
                     ("posts", "scores", "signals", "orders", "fills", "deadletter", "quotes")))
    pnl = monitor.pnl()
    money = Table(title="P&L ($)")
    for name in ("realized", "unrealized", "total"):
        money.add_column(name, justify="right")
    money.add_row(*(f"{pnl[k]:,.2f}" for k in ("realized", "unrealized", "total")))
    lat = Table(title="latency (ms, from traces)")
    for name in ("stage", "n", "p50", "p95", "p99"):
        lat.add_column(name, justify="right")
    for stage, s in monitor.latency_report().items():
        lat.add_row(stage, str(s["n"]), f"{s['p50']:.1f}", f"{s['p95']:.1f}", f"{s['p99']:.1f}")
    last = Table(title="latest")
    last.add_column("what")
    last.add_column("detail")
    if "signals" in monitor.last:
        last.add_row("signal", monitor.last["signals"]["reason"])
    if "orders" in monitor.last:
        o = monitor.last["orders"]
        last.add_row("order", f"{o['status']} {o['side']} {o['qty']} {o['symbol']} "
                              f"@ {o['limit_price']} {o['reason'] or ''}")
    return Group(counts, money, lat, last)


@contextlib.contextmanager
def live_display(enabled: bool = True) -> Iterator[Refresh]:
    """Yield a refresh function; a no-op display when disabled (CI, --no-live)."""
    if not enabled:
        yield lambda *args: None
        return
    with Live(refresh_per_second=4) as live:
        yield lambda monitor, elapsed, speed, day: live.update(
            render(monitor, elapsed, speed, day))
