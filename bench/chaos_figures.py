"""The chaos bench's figures, read from the end of a run, and what explains them.

The figures, once everything has settled (every worker up, an owner ticking, every post
scored, every fill answered by the book, no new order state or fill for 15 s with an owner
ticking, so the owner's 10 s reconciliation has run):
    * ``duplicate_entry_orders``: entry (buy) orders the broker accepted, grouped by the
      signal they came from (the order's ``signal_id``, or the signal whose derived client
      order id it carries), signals grouped by their round: each order beyond one a round.
    * ``fills_applied_twice``: the book is the ``positions`` table as its changelog holds it
      (what a new owner loads). Each position remembers the keys of the fills it applied
      (:mod:`domain.book`): an execution's id, or ``<order>#<cumulative qty>`` when seen
      without one. Per broker execution, the number of keys naming it beyond one; plus
      keys repeated, plus keys that name no execution of the broker.
    * ``position_mismatches``: contracts whose quantity in the book differs from the broker's.
    * ``pnl_error_usd``: |book realised P&L - broker realised P&L|; the broker's is its own
      executions replayed by average cost with their commission, as the book counts it.
    * ``posts_lost``: posts sent whose id never came out on ``scores``.
    * ``orders_after_kill_switch``: entry orders the broker accepted whose decision (the
      order record's ``execute_out`` trace stamp; for an order with no record, its signal's
      ``signal_out``) falls between the owner confirming the kill and the resume being sent.
    * ``failover_s_p50``/``failover_s_max``: per owner killed, the seconds from the kill to
      the first sign of a new owner that may trade: the earliest wall-clock trace stamp
      after the kill of a ``Tick`` (``tick_out``) or of an entry decision (an order's
      ``execute_out``). An owner sends a ``Tick`` every second once it has recovered the
      tables, restored the switches and reconciled with the broker (``agents/owner.py``),
      and the execute agent decides only then, so this is the time until signals are
      handled again (within the 1 s tick); the table also shows how long the signals that
      arrived meanwhile waited. Records a new owner publishes while it reconciles do not
      count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.chaos_account import Account, broker_realized
from bench.chaos_day import ROUNDS, round_of
from bench.chaos_kafka import changelog, lost_posts, stamp
from bench.chaos_kills import Chaos, Death, Switch
from stocktracker.agents.execute import client_order_id
from stocktracker.domain.latency import percentile
from stocktracker.domain.orders import Execution
from stocktracker.domain.positions import RECONCILE_PREFIX
from stocktracker.streams.commands.local_run import Run


def applied_twice(book: dict[str, Any], executions: list[Execution]) -> int:
    """Fills the book applied more than once, or applied without the broker making them."""
    twice = 0
    for symbol, position in book.items():
        keys = [k for k in position.get("executions") or () if not k.startswith(RECONCILE_PREFIX)]
        mine = [e for e in executions if e.symbol == symbol]
        named = set()
        for e in mine:
            names = {e.execution_id, f"{e.client_order_id}#{e.cum_qty}"}
            twice += max(0, len(names & set(keys)) - 1)
            named |= names
        twice += len(keys) - len(set(keys)) + len(set(keys) - named)
    return twice


def signal_of_entries(run: Run) -> dict[str, dict[str, Any]]:
    """Each entry's client order id -> the signal it came from (its record on ``signals``)."""
    signals = {s["id"]: s for s in run.monitor.records["signals"]}
    out = {client_order_id(sid): s for sid, s in signals.items()}
    for order in run.monitor.records["orders"]:
        if order.get("intent") == "open" and order.get("signal_id") in signals:
            out[order["client_order_id"]] = signals[order["signal_id"]]
    return out


def duplicate_entries(account: Account, signals: dict[str, dict[str, Any]]) -> int:
    """Entries the broker accepted beyond one a round (an entry of no known signal is a
    group of its own)."""
    per_round: dict[str, int] = {}
    for coid in account.entries:
        signal_ = signals.get(coid)
        group = f"round {round_of(signal_['event_time'])}" if signal_ else f"order {coid}"
        per_round[group] = per_round.get(group, 0) + 1
    return sum(n - 1 for n in per_round.values())


def decided_during_kill(run: Run, account: Account, signals: dict[str, dict[str, Any]],
                        switch: Switch) -> list[str]:
    """The accepted entries decided between the confirmed kill (its sending, had the owner
    never confirmed it) and the resume."""
    begin = switch.confirmed if switch.seen_on else switch.sent
    decided: dict[str, int] = {}
    for order in run.monitor.records["orders"]:
        out = (order.get("trace") or {}).get("execute_out")
        if out:
            decided.setdefault(order["client_order_id"], int(out))
    hits = []
    for coid in account.entries:
        when = decided.get(coid) or (signals.get(coid) or {}).get("trace", {}).get("signal_out", 0)
        if begin * 1e6 <= when < switch.resumed * 1e6:
            hits.append(coid)
    return hits


def failovers(run: Run, deaths: list[Death]) -> list[tuple[Death, float, float | None]]:
    """Per owner killed: seconds to the first sign of a new owner that may trade (a tick,
    or an entry decided), and the longest wait of a signal emitted meanwhile (None: none
    came). Records a new owner publishes while it reconciles (orders stated again, fills
    it backfills) do not count: no order may go out before reconciliation ends."""
    stamps = sorted([int(t["trace"].get("tick_out", 0)) for t in run.monitor.records["ticks"]]
                    + [int(o["trace"].get("execute_out", 0)) for o in run.monitor.records["orders"]])
    owners = [d for d in deaths if d.owner]
    out = []
    for death, following in zip(owners, [*owners[1:], None], strict=False):
        after = next((s for s in stamps if s > death.at * 1e6), None)
        if after is None:
            continue
        until_us = following.at * 1e6 if following else float("inf")
        waits = [(o["trace"]["execute_out"] - o["trace"]["signal_out"]) / 1e6
                 for o in run.monitor.records["orders"]
                 if death.at * 1e6 < o["trace"].get("signal_out", 0) < after
                 and o["trace"].get("execute_out", until_us) < until_us]
        out.append((death, (after - death.at * 1e6) / 1e6, max(waits, default=None)))
    return out


def figures(chaos: Chaos, account: Account, book: dict[str, Any],
            sent_posts: list[str]) -> dict[str, Any]:
    """The figures of the JSON report (see the module docstring)."""
    run = chaos.run
    signals = signal_of_entries(run)
    symbols = set(account.positions) | set(book)
    scored = {s["post_id"] for s in run.monitor.records["scores"]}
    times = sorted(f for _, f, _ in failovers(run, chaos.deaths))
    return {
        "kills": len(chaos.deaths),
        "duplicate_entry_orders": duplicate_entries(account, signals),
        "fills_applied_twice": applied_twice(book, account.executions),
        "position_mismatches": sum(1 for s in symbols if int((book.get(s) or {}).get("qty", 0))
                                   != account.positions.get(s, 0)),
        "pnl_error_usd": round(abs(sum(float(p.get("realized_pnl", 0.0)) for p in book.values())
                                   - broker_realized(account.executions)), 2),
        "posts_lost": len(set(sent_posts) - scored),
        "orders_after_kill_switch": len(decided_during_kill(run, account, signals, chaos.switch)),
        "failover_s_p50": round(percentile(times, 50), 2) if times else None,
        "failover_s_max": round(times[-1], 2) if times else None,
    }


@dataclass(frozen=True)
class Outcome:
    """What one run found: the broker's account, the book, the figures."""

    chaos: Chaos
    account: Account
    book: dict[str, Any]
    figures: dict[str, Any]
    unsettled: str  # what was still missing when settling timed out ('' when settled)
    notes: list[str]  # what explains the figures (:func:`diagnose`)


def diagnose(chaos: Chaos, account: Account, book: dict[str, Any],
             sent_posts: list[str]) -> list[str]:
    """What a non-zero figure or an unsettled run needs explained: actions skipped, workers
    that died or left the group by themselves, executions the book forgot, fills
    reconciliation kept sending again, rounds that made no signal and why."""
    notes = [f"skipped for time: {', '.join(chaos.skipped)}"] if chaos.skipped else []
    notes += chaos.crashes
    for symbol, ids in forgotten(book, account.executions).items():
        notes.append(f"the book does not remember {symbol} executions {', '.join(ids)}")
    again = sent_again(chaos.run)
    if again:
        ids = sorted({str(f.get("execution_id")) for f in again})
        notes.append(f"reconciliation published {len(again)} fills again that were on the topic "
                     f"already ({', '.join(ids[:6])}{' ...' if len(ids) > 6 else ''}), the last "
                     f"at {datetime.fromtimestamp(max(map(stamp, again)) / 1e6, UTC):%H:%M:%S}")
    unscored = set(sent_posts) - {s["post_id"] for s in chaos.run.monitor.records["scores"]}
    if unscored:
        notes += lost_posts(chaos.run, unscored)
    return notes + silent_rounds(chaos.run)


def forgotten(book: dict[str, Any], executions: list[Execution]) -> dict[str, list[str]]:
    """Per contract, the broker's executions whose id the book does not remember."""
    out: dict[str, list[str]] = {}
    for e in executions:
        keys = (book.get(e.symbol) or {}).get("executions") or ()
        if e.execution_id not in keys and f"{e.client_order_id}#{e.cum_qty}" not in keys:
            out.setdefault(e.symbol, []).append(e.execution_id)
    return out


def sent_again(run: Run) -> list[dict[str, Any]]:
    """Fills a reconciliation published although the same execution was on ``fills``
    already (it read the book as not having it)."""
    seen: set[tuple[str, str]] = set()
    again = []
    for fill in run.monitor.records["fills"]:
        key = (fill["client_order_id"], fill.get("execution_id") or "")
        if key in seen and "reconcile" in fill["trace"]:
            again.append(fill)
        seen.add(key)
    return again


def silent_rounds(run: Run) -> list[str]:
    """Rounds without a signal, and why: the signal agent recorded one (its state, read
    from the changelog, starts the cool-down) that never reached ``signals``; or the
    round's window crossed the rules only after a later round's had (the cool-down compares
    event times: an older window counts as inside it); or it never crossed them."""
    records = run.monitor.records
    recorded: dict[int, str] = {}
    for _, state in changelog(run.settings.kafka.bootstrap_servers,
                              f"{run.settings.stream.app_id}-signal-state-changelog"):
        if state and state.get("last_signal_us"):
            recorded.setdefault(round_of(int(state["last_signal_us"])), str(state["last_signal_id"]))
    signalled = {round_of(s["event_time"]) for s in records["signals"]}
    crossed: dict[int, int] = {}  # round -> when its window first crossed the signal rules
    for snap in records["sentiment"]:
        if snap["posts"] >= 4 and snap["authors"] >= 3 and abs(snap["decayed"]) >= 0.25:
            r = round_of(snap["event_time"])
            crossed[r] = min(crossed.get(r, stamp(snap)), stamp(snap))
    notes = []
    for r in sorted(set(range(ROUNDS)) - signalled):
        earlier = sorted((at_us, n) for n, at_us in crossed.items() if n > r
                         and at_us < crossed.get(r, 0))
        if r in recorded:
            why = (f"the signal state recorded {recorded[r]} (its cool-down began) but that "
                   "signal never reached the signals topic")
        elif r not in crossed:
            why = "its window never crossed the rules"
        elif earlier:
            why = (f"its window crossed the rules {(crossed[r] - earlier[0][0]) / 1e6:.1f} s "
                   f"after round {earlier[0][1]}'s had: the cool-down compares event times, "
                   "so the older window fell inside the later round's cool-down")
        else:
            why = "its window crossed the rules, and no later round's had before"
        notes.append(f"round {r} made no signal: {why}")
    return notes
