"""The dashboard in headless Chromium (Debian's), on a real pipeline: Kafka, the worker,
a replayed market day and ``stocktracker web`` as its own process.

The page shows the signals and trades as the worker makes them, each model's skill (IC and
hit rate against the underlying's next move, with the IC plot), and the trading state the
account's owner confirmed on ``switches``; the kill switch (with its confirmation) writes a
``kill`` to the ``control`` topic, the owner applies it, the page and ``/api/status`` report
trading stopped as confirmed by that owner, and the next signal's order is refused (kill
switch). A screenshot goes to
``docs/dashboard.png``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from stocktracker.connectors.replay.runner import run_replay
from stocktracker.connectors.simulated.market import day_items
from stocktracker.domain.synthetic import generate_day
from stocktracker.streams.commands.kafka_local import free_port
from stocktracker.streams.commands.local_run import Run, stop_process
from stocktracker.streams.core.settings import Settings
from tests.waiting import eventually

pytestmark = pytest.mark.integration

TOKEN = "dashboard-test-token-0123456789"
OPERATOR = "it-operator"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
SPEED = 40.0  # event-time seconds per second


def chromium() -> str:
    """Debian's chromium: Playwright drives it, nothing is downloaded."""
    path = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Debian's chromium is needed for the browser test: `make chromium`"
    return path


def day_phases() -> tuple[list[Any], list[Any]]:
    """A generated morning (seed 7: a bullish event at 15:00:26 UTC, a bearish one at 15:19:14),
    cut to the six minutes before each event and four after."""
    day = generate_day(datetime(2026, 11, 24, 14, 30, tzinfo=UTC),
                       datetime(2026, 11, 24, 15, 50, tzinfo=UTC), seed=7, events=2,
                       quote_every_s=15.0, strikes_each_side=6)
    items = day_items(day)
    (first, _), (second, _) = day.drift_events

    def around(event_us: int) -> list[Any]:
        return [i for i in items if event_us - 360_000_000 <= i.event_us < event_us + 240_000_000]

    return around(first), around(second)


@pytest.fixture
def run(kafka_bootstrap: str, run_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Run]:
    pipeline_run = Run(run_settings(kafka_bootstrap), tmp_path)
    pipeline_run.worker_env.update({  # exits wide apart: the operator closes the position
        "SENTIMENT_FINBERT": "off", "TRADING_PROFIT_TARGET_PCT": "100",
        "TRADING_STOP_LOSS_PCT": "0.99", "TRADING_TRAILING_STOP_PCT": "0.99"})
    pipeline_run.monitor.keep = (*pipeline_run.monitor.keep, "control", "switches", "alerts")
    try:
        yield pipeline_run
    finally:
        pipeline_run.close()


@pytest.fixture
def dashboard(run: Run, tmp_path: Path) -> Iterator[str]:
    """``stocktracker web`` on a free port, reading the run's topics."""
    port = free_port()
    s = run.settings
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
           "KAFKA_TOPIC_PREFIX": s.kafka.topic_prefix, "STREAM_APP_ID": s.stream.app_id,
           "WEB_TOKEN": TOKEN, "WEB_PORT": str(port), "WEB_EMIT_INTERVAL_MS": "100",
           "WEB_STATUS_INTERVAL_S": "1", "WEB_SKILL_INTERVAL_S": "1",
           # the monitor runs in the dashboard; only the kill switch's rule, told at once
           "ALERT_RULES": "kill_switch", "ALERT_WARMUP_S": "0", "ALERT_EVAL_INTERVAL_S": "0.5"}
    log = (tmp_path / "web.log").open("ab")
    proc = subprocess.Popen([sys.executable, "-m", "stocktracker.streams.commands.cli", "web"], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: proc.poll() is None and _status(url) is not None, timeout=30, interval=0.2)
        yield url
    finally:
        stop_process(proc, timeout=10)
        log.close()
        assert TOKEN not in (tmp_path / "web.log").read_text(errors="replace"), "the token was logged"


def _status(url: str) -> dict[str, Any] | None:
    try:
        answer = httpx.get(f"{url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=2)
    except httpx.HTTPError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _skill(url: str, horizon: str) -> dict[str, Any] | None:
    """``/api/skill`` once the ensemble has enough posts with a forward return at ``horizon``."""
    skill = httpx.get(f"{url}/api/skill", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
    ensemble = skill["models"].get("ensemble", {}).get(horizon)
    return skill if ensemble and ensemble["n"] >= skill["min_posts"] else None


def replay(run: Run, items: list[Any]) -> threading.Thread:
    thread = threading.Thread(target=run_replay, args=(items, run.producer, SPEED), daemon=True)
    thread.start()
    return thread


def rows(page: Page, table: str) -> list[str]:
    return page.locator(f"#{table} tbody tr").all_inner_texts()


def test_the_dashboard_follows_the_pipeline_and_its_kill_switch_stops_trading(
        run: Run, dashboard: str) -> None:
    run.start_worker()
    first, second = day_phases()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1250})
            page.set_default_timeout(15_000)
            page.goto(dashboard)
            page.fill("#operator", OPERATOR)
            page.fill("#token", TOKEN)
            page.click("#connect")
            expect(page.locator("#conn-state")).to_have_text("connected")
            assert rows(page, "signals") == [] and rows(page, "trades") == []

            # signals and trades appear while the day is being replayed
            phase = replay(run, first)
            expect(page.locator("#trades tbody tr")).not_to_have_count(0, timeout=90_000)
            entry = eventually(lambda: [o for o in run.records("orders")
                                        if o["intent"] == "open" and o["status"] == "filled"])[0]
            signal = eventually(lambda: [s for s in run.records("signals")
                                         if s["id"] == entry["signal_id"]])[0]
            filled = page.locator("#signals tbody tr").filter(has_text="filled")
            expect(filled.first).to_contain_text(signal["direction"])
            expect(filled.first).to_contain_text(signal["ticker"])
            expect(page.locator("#trades tbody")).to_contain_text(entry["symbol"])
            expect(page.locator("#positions tbody")).to_contain_text(entry["symbol"])
            # the per-underlying row: the traded ticker with its signals and open contracts
            row = page.locator("#underlyings tbody tr").filter(has_text=entry["underlying"])
            expect(row).to_have_count(1)
            phase.join(60)
            # the model skill panel: a row per model at the chosen horizon, the IC plot
            page.select_option("#skill-horizon", "60")
            skill = eventually(lambda: _skill(dashboard, "60"), timeout=60)
            ensemble = page.locator("#skill tbody tr").filter(has_text="ensemble")
            expect(ensemble).to_have_count(1)
            expect(ensemble).to_contain_text("%")  # enough posts: its hit rate, not "not enough"
            expect(page.locator("#skill tbody tr")).to_have_count(len(skill["models"]))
            expect(page.locator("#skill-chart canvas")).not_to_have_count(0)
            expect(page.locator("#skill-note")).not_to_contain_text("not enough posts yet")
            # the state shown is the one the owner said it restored on taking the account
            expect(page.locator("#trading-state")).to_have_text("trading: ACTIVE")
            expect(page.locator("#owner-state")).to_contain_text("on taking over")

            # the kill switch asks first, then stops trading
            page.click("#btn-kill")
            page.wait_for_selector("#confirm-dialog[open]")
            page.click("#confirm-yes")
            expect(page.locator("#trading-state")).to_contain_text("KILLED")  # once the owner says so
            kill = eventually(lambda: [c for c in run.records("control") if c["command"] == "kill"])[0]
            assert kill["actor"] == f"{OPERATOR}@127.0.0.1 via web"
            assert kill["trace"]["web_out"] > 0 and kill["event_time"] > 0
            applied = eventually(lambda: [s for s in run.records("switches")
                                          if s["params"].get("applied") == "kill"])[0]
            assert applied["params"]["killed"] == "true" and applied["params"]["accepted"] == "true"
            assert applied["params"]["by"] == kill["actor"] and applied["event_time"] == kill["event_time"]
            expect(page.locator("#owner-state")).to_contain_text(
                f"confirmed by {applied['actor']}")
            expect(page.locator("#owner-state")).to_contain_text(f"after kill by {kill['actor']}")
            expect(page.locator("#pending-commands")).to_have_text("none")
            # the kill switch is an alert: a banner until an operator acknowledges it
            banner = page.locator("#alert-banner")
            expect(banner).to_contain_text("kill_switch account", timeout=30_000)
            page.locator("#alerts button[data-alert='kill_switch:account']").click()
            expect(page.locator("#alerts tbody")).to_contain_text(f"ack by {kill['actor']}")
            expect(banner).to_be_hidden()
            acked = eventually(lambda: [a for a in run.records("alerts")
                                        if a["state"] == "acknowledged"])[0]
            assert acked["id"] == "kill_switch:account" and acked["actor"] == kill["actor"]
            status = _status(dashboard)
            assert status is not None
            assert status["trading"]["killed"] and not status["trading"]["entries_allowed"]
            assert status["trading"]["confirmed"] and status["trading"]["owner"]["actor"] == applied["actor"]
            assert status["trading"]["last_command"]["actor"] == kill["actor"]
            assert status["trading"]["last_command"]["status"] == "applied"
            assert {c["name"]: c["state"] for c in status["components"]}["kafka"] == "up"
            assert status["worker"]["members"] == 1 and status["worker"]["lag"] is not None

            # the next signal is refused as killed, and the page says so
            replay(run, second).join(60)
            refused = eventually(lambda: [o for o in run.records("orders")
                                          if o["intent"] == "open" and o["status"] == "rejected"],
                                 timeout=60)[0]
            assert "kill switch" in (refused["reason"] or "")
            refused_rows = page.locator("#signals tbody tr").filter(has_text="rejected")
            expect(refused_rows.filter(has_text="kill switch")).not_to_have_count(0)
            expect(page.locator("#latency-table tbody tr")).not_to_have_count(0)

            # one position closed from its row, after a confirmation
            page.locator(f"#positions button[data-symbol='{entry['symbol']}']").click()
            page.wait_for_selector("#confirm-dialog[open]")
            expect(page.locator("#confirm-what")).to_have_text(f"CLOSE {entry['symbol']}")
            page.click("#confirm-yes")
            closed = eventually(lambda: [o for o in run.records("orders")
                                         if o["intent"] == "close" and o["status"] == "filled"
                                         and (o["reason"] or "").startswith("close by")],
                                timeout=60)[0]
            assert closed["symbol"] == entry["symbol"] and closed["side"] == "sell"
            expect(page.locator("#positions tbody tr.closed")).to_contain_text(entry["symbol"])
            metrics = httpx.get(f"{dashboard}/api/metrics", timeout=5,
                                headers={"Authorization": f"Bearer {TOKEN}"}).json()
            assert metrics["latency_ms"]["record_to_emit"]["n"] > 0
            assert metrics["throughput"]["records"]["signals"] >= 2
            assert TOKEN not in page.content()
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 20_000
