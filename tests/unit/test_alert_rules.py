"""Each alert rule fires on the snapshot built for it, and only it; the book fires after the
hold time and resolves; delivery de-duplicates, rate-limits and writes both bodies."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from stocktracker.domain.alert_rules import RULE_NAMES, AlertLimits, Observed, evaluate, p99
from stocktracker.domain.alerts import (
    ACKNOWLEDGED,
    CRITICAL,
    FIRING,
    RESOLVED,
    WARNING,
    Alert,
    AlertBook,
    Delivery,
    Finding,
    acknowledged,
    generic_body,
    slack_body,
)

NOW = 1_780_000_000_000_000
S = 1_000_000
LIMITS = AlertLimits()


def healthy(**changes: Any) -> Observed:
    """Every rule can tell, and none finds anything."""
    base = Observed(
        now_us=NOW, started_us=NOW - 3600 * S, market_open=True, broker_connected=True,
        group_members=2, lag=(10, 5, 10, 5, 10, 5), sources={"x": (1.0, NOW - S)},
        components={"ingest": NOW - 5 * S, "worker": NOW - 5 * S}, last_post_us=NOW - 10 * S,
        stale_positions=(), post_to_order_ms=(20.0,) * 10, llm={"claude": (10, 1)},
        broker_errors={"alpaca": 1}, orders_last_minute=2, orders_per_minute=1.0,
        day_pnl=-100.0, max_daily_loss=1000.0, killed=False, reconcile_mismatched=0.0,
        unmatched_fills={})
    return replace(base, **changes)


CASES: list[tuple[str, dict[str, Any], list[tuple[str, str]]]] = [
    ("kafka_unreachable", {"broker_connected": False}, [("kafka", CRITICAL)]),
    ("worker_missing", {"group_members": 0}, [("workers", CRITICAL)]),
    ("source_down", {"sources": {"x": (0.0, NOW), "reddit": (1.0, NOW)}}, [("x", WARNING)]),
    ("component_silent", {"components": {"ingest": NOW - 61 * S, "worker": NOW}},
     [("ingest", CRITICAL)]),
    ("no_posts", {"last_post_us": NOW - 601 * S}, [("posts", WARNING)]),
    ("stale_quotes", {"stale_positions": ("SPY261124C00590000",)},
     [("SPY261124C00590000", WARNING)]),
    ("latency_budget", {"post_to_order_ms": (20.0,) * 98 + (250.0, 260.0)},
     [("post_to_order", WARNING)]),
    ("llm_errors", {"llm": {"claude": (10, 5), "groq": (4, 4)}}, [("claude", WARNING)]),
    ("broker_errors", {"broker_errors": {"alpaca": 3}}, [("alpaca", CRITICAL)]),
    ("order_rate", {"orders_last_minute": 11, "orders_per_minute": 2.0}, [("orders", CRITICAL)]),
    ("daily_loss", {"day_pnl": -850.0}, [("50%", WARNING), ("80%", WARNING)]),
    ("kill_switch", {"killed": True}, [("account", CRITICAL)]),
    ("reconcile_mismatch", {"reconcile_mismatched": 1.0}, [("account", CRITICAL)]),
    ("fill_without_order", {"unmatched_fills": {"by-hand-1": "SPY261124P00580000"}},
     [("by-hand-1", CRITICAL)]),
    ("consumer_lag", {"lag": (900, 1200, 1500, 1800, 2100, 2400)}, [("workers", WARNING)]),
]


def test_the_healthy_snapshot_finds_nothing_and_every_rule_tells() -> None:
    findings, evaluated = evaluate(healthy(), LIMITS)
    assert findings == [] and evaluated == set(RULE_NAMES)
    assert {name for name, _, _ in CASES} == set(RULE_NAMES)  # every rule has its case


@pytest.mark.parametrize(("rule", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fires_on_its_own_case_and_resolves(
        rule: str, change: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    findings, _ = evaluate(healthy(**change), LIMITS)
    assert [(f.rule, f.subject, f.severity) for f in findings] == \
        [(rule, subject, severity) for subject, severity in expected]
    book = AlertBook()  # no hold: fires at once
    fired = book.update(findings, set(RULE_NAMES), NOW)
    assert [a.state for a in fired] == [FIRING] * len(expected)
    later = NOW + 5 * S
    findings, evaluated = evaluate(healthy(now_us=later), LIMITS)
    resolved = book.update(findings, evaluated, later)
    assert [(a.id, a.state, a.resolved) for a in resolved] == \
        [(a.id, RESOLVED, later) for a in fired] and book.firing == {}


def test_just_inside_each_threshold_nothing_fires() -> None:
    inside = healthy(components={"ingest": NOW - 60 * S}, last_post_us=NOW - 600 * S,
                     post_to_order_ms=(200.0,) * 10, llm={"claude": (10, 4), "groq": (4, 4)},
                     broker_errors={"alpaca": 2}, orders_last_minute=10, orders_per_minute=2.0,
                     day_pnl=-499.0, lag=(900, 950, 1000, 1000, 1001, 1002))
    assert evaluate(inside, LIMITS)[0] == []


def test_what_a_rule_cannot_see_changes_nothing() -> None:
    blind = Observed(now_us=NOW)
    findings, evaluated = evaluate(blind, LIMITS)
    assert findings == [] and evaluated == set()
    book = AlertBook()
    book.update([Finding("daily_loss", "50%", WARNING, "m")], {"daily_loss"}, NOW)
    assert book.update([], evaluated, NOW + S) == [] and "daily_loss:50%" in book.firing


def test_no_posts_only_in_market_hours_and_counted_from_start_without_any() -> None:
    assert evaluate(healthy(market_open=False, last_post_us=NOW - 3600 * S), LIMITS)[0] == []
    never = healthy(last_post_us=None, started_us=NOW - 700 * S)
    assert [f.rule for f in evaluate(never, LIMITS)[0]] == ["no_posts"]
    assert evaluate(replace(never, started_us=NOW - 500 * S), LIMITS)[0] == []


def test_daily_loss_levels_each_fire_once_in_order() -> None:
    book, fired = AlertBook(), []
    for pnl in (-400.0, -500.0, -700.0, -800.0, -1000.0, -1200.0):
        fired += book.update(evaluate(healthy(day_pnl=pnl), LIMITS)[0], set(RULE_NAMES), NOW)
    assert [(a.subject, a.severity) for a in fired] == \
        [("50%", WARNING), ("80%", WARNING), ("100%", CRITICAL)]
    assert p99([1.0, 2.0, 3.0]) == 3.0 and p99([float(n) for n in range(1, 101)]) == 99.0


def test_a_finding_fires_only_after_its_hold_and_a_blip_is_forgotten() -> None:
    book = AlertBook(AlertLimits(source_down_s=60).hold_us())
    down = [Finding("source_down", "x", WARNING, "x down", 0.0)]
    assert book.update(down, {"source_down"}, NOW) == []
    assert book.update([], {"source_down"}, NOW + 10 * S) == []  # back: the blip is forgotten
    assert book.update(down, {"source_down"}, NOW + 20 * S) == []
    assert book.update(down, {"source_down"}, NOW + 79 * S) == []
    [fired] = book.update(down, {"source_down"}, NOW + 80 * S)
    assert fired.first_seen == NOW + 20 * S and fired.event_time == NOW + 80 * S
    assert book.update(down, {"source_down"}, NOW + 90 * S) == []  # still firing: told once


def test_the_book_is_rebuilt_from_the_topic() -> None:
    fired = Alert.fired(Finding("kill_switch", "account", CRITICAL, "engaged"), NOW, NOW)
    book = AlertBook()
    book.restore(fired.to_record())
    book.restore(acknowledged(fired, "alice", NOW + S).to_record())
    assert book.firing["kill_switch:account"].actor == "alice"
    assert book.update([fired_finding := Finding("kill_switch", "account", CRITICAL, "engaged")],
                       {"kill_switch"}, NOW + 2 * S) == []  # restored: not fired again
    assert fired_finding.id == fired.id
    [resolved] = book.update([], {"kill_switch"}, NOW + 3 * S)
    book.restore(resolved.to_record())
    assert resolved.first_seen == NOW and book.firing == {}


def _alert(n: int, state: str = FIRING) -> Alert:
    return Alert(f"source_down:s{n}", "source_down", f"s{n}", WARNING, state, "down", NOW,
                 resolved=NOW + S if state == RESOLVED else None)


def test_delivery_rate_limits_deduplicates_and_drops_a_firing_resolved_before_it_went() -> None:
    out = Delivery(per_minute=2)
    for n in range(4):
        out.offer(_alert(n))
    out.offer(_alert(0))  # the same change again
    out.offer(acknowledged(_alert(1), "bob", NOW))  # acknowledgements are not told
    assert [a.id for a in out.due(NOW)] == ["source_down:s0", "source_down:s1"]
    assert out.due(NOW + 30 * S) == []  # two in the last minute already
    out.offer(_alert(3, RESOLVED))  # s3 resolved while its firing still waited
    out.offer(_alert(0))  # told already
    assert out.duplicates == 2
    assert [a.id for a in out.due(NOW + 61 * S)] == ["source_down:s2"]
    assert out.due(NOW + 200 * S) == []


def test_the_bodies_say_what_fired_and_what_resolved() -> None:
    fired = _alert(1)
    generic = generic_body(fired, "prod")
    assert generic["state"] == FIRING and generic["first_seen"].startswith("2026-")
    assert generic["source"] == "prod" and generic["text"].startswith("[WARNING] source_down s1")
    slack = slack_body(_alert(1, RESOLVED), "prod")
    assert slack["text"].startswith("[RESOLVED]") and slack["blocks"][0]["type"] == "section"
    assert ":white_check_mark:" in slack["blocks"][0]["text"]["text"]
    assert acknowledged(fired, "bob", NOW).state == ACKNOWLEDGED
