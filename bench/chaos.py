"""Chaos benchmark: a trading day through real Kafka while its workers are killed.

    python bench/chaos.py [--json PATH] [--kills 14] [--seconds 150] [--seed 7]
                          [--broker simulated|alpaca] [--records PATH]

What runs
    A throwaway Kafka broker (:mod:`streams.kafka_local`), the run's topics and four
    workers of one app, ``worker-1`` to ``worker-4``, alike: each scores, one owns the
    account, one holds its standby replicas. The broker is the
    simulated one, its account kept in Kafka (``TRADING_BROKER=simulated``, the default),
    or the local Alpaca server in this process, reached through alpaca-py.

The day (event time, 2026-11-24)
    48 rounds six minutes apart from 09:36 New York, spread evenly over ``--seconds`` of
    wall time. A round: a chain around 590; five posts by five authors (bullish and bearish
    rounds alternate); the underlying three points in favour, then 3.5 (two rounds in
    three: the profit target rests, then fills) or against (the stop fires). Each round
    makes one signal: the cool-down is 300 s, the rounds 360 s apart, the hopping window
    300 s. A chain a minute from 15:11 New York closes what is left (the time exit).

The chaos
    * ``--kills`` times, evenly over the day with jitter, ``kill -9`` of a worker's process
      group, restarted a second later with the same name and data dir. In turn: a worker
      that is neither the owner nor its standby; the account's owner right after a new
      record on ``fills`` (before it commits the fill's offsets or has written the book);
      any worker at random. Nothing is killed during a take-over (until an owner ticks
      again), and the owner only once its standby has been in the group for 20 s (else
      another worker is), so that each failover is measured alone. A worker alive but out
      of the group for 30 s is killed and started again, as a supervisor would
      (``Chaos.zombies``): a crash, not a kill.
    * At 30 % of the day the kill switch goes to ``control``; once the owner's ``control``
      table (its changelog) says killed, the bench waits 8 s, and until the switch has
      refused two signals (at most 45 s), and sends ``resume``.
    * At 55 % the Kafka broker is stopped (SIGTERM) and started again on the same ports and
      data dir (``kafka_local.down``/``up``); workers and this bench reconnect.

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

Worker logs (``<name>.log``, with a ``[chaos]`` line at each kill and start) stay in the
work dir printed at the end; the broker, the workers, their data and the topics do not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.execute import client_order_id
from connectors.simulated.journal import KafkaJournal, SimState
from domain.book import distinct_fills
from domain.latency import percentile
from domain.orders import Execution
from domain.positions import RECONCILE_PREFIX, apply_fill
from streams import kafka_local
from streams.demo import start_worker
from streams.kafka_local import KafkaLocalConfig
from streams.producer import RecordProducer
from streams.settings import KafkaSettings, Settings, StreamSettings
from streams.topics import topic_name
from tests.integration.helpers import KEEP, Run, at, chain, post

BENCH_ENV = {
    "SENTIMENT_FINBERT": "off", "STOCKTRACKER_LOG_LEVEL": "INFO", "SIGNAL_COOLDOWN_S": "300",
    "RISK_MAX_QUOTE_AGE_S": "1000000", "RISK_MAX_ORDERS_PER_MINUTE": "1000",
    "RISK_MAX_POSITION_CONTRACTS": "100000", "RISK_MAX_TOTAL_CONTRACTS": "100000",
    "RISK_MAX_PREMIUM_PER_POSITION": "1000000", "RISK_MAX_TOTAL_PREMIUM": "1000000",
    "RISK_MAX_DAILY_LOSS": "1000000", "TRADING_RECONCILE_S": "10"}
ALPACA_KEY, ALPACA_SECRET = "PKCHAOSBENCH01", "chaos-bench-secret-0123456789"
START_CASH = 100_000.0
SPOT = 590.0
ROUNDS = 48
CLOSING_CHAINS = 12
ROUND_US = 360 * 10**6
DAY_START_US = at(14, 36)  # 09:36 New York
TEXTS = {"bullish": ("$SPY breaking out, loading calls 🚀", "$SPY calls printing, very bullish",
                     "bought more $SPY calls, bulls in control 📈"),
         "bearish": ("$SPY breaking down, loading puts 🐻", "$SPY puts printing, very bearish, "
                     "dump incoming", "$SPY rug pull, bagholders crying, puts 📉")}
GOALS = {"kills": ">= 10", "duplicate_entry_orders": "0", "fills_applied_twice": "0",
         "position_mismatches": "0", "pnl_error_usd": "0", "posts_lost": "0",
         "orders_after_kill_switch": "0", "failover_s_p50": "< 15", "failover_s_max": "< 15"}
SWITCH_HOLD_S = 8.0
MIN_GAP_S = 4.0
OVERRUN_S = 180.0  # the plan's actions still due this long after the day are skipped
QUIET_S = 15.0
ZOMBIE_S = 30.0
WARM_S = 20.0  # a standby this long in the group has recovered its replicas


# ---- the day ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    """What the feeder sends ``at_s`` wall seconds into the day: a chain, posts or both."""

    at_s: float
    event_us: int
    spot: float | None = None
    posts: tuple[tuple[str, str, str, int], ...] = ()  # id, author, text, event time


def day_steps(seconds: float) -> list[Step]:
    """The rounds (see the module docstring), then a chain a minute after the time exit
    (each fills ten contracts of an exit: the quotes show ten)."""
    wall = seconds / (ROUNDS + 1)
    steps: list[Step] = []
    for r in range(ROUNDS):
        start, w = DAY_START_US + r * ROUND_US, r * wall
        mood = "bullish" if r % 2 == 0 else "bearish"
        move = (1 if mood == "bullish" else -1) * (1 if r % 3 != 2 else -1)
        posts = tuple((f"r{r}-{n}", f"r{r}-author{n}", TEXTS[mood][n % 3],
                       start + (5 + 5 * n) * 10**6) for n in range(5))
        steps += [Step(w, start, SPOT), Step(w + 0.15 * wall, start + 25 * 10**6, posts=posts),
                  Step(w + 0.5 * wall, start + 60 * 10**6, SPOT + 3 * move),
                  Step(w + 0.7 * wall, start + 90 * 10**6, SPOT + 3.5 * move),
                  Step(w + 0.85 * wall, start + 120 * 10**6, SPOT + 3.5 * move)]
    closing = [Step((ROUNDS + 0.3 * n) * wall, at(20, 11 + n), SPOT) for n in range(CLOSING_CHAINS)]
    return steps + closing


def round_of(event_us: int) -> int:
    """The round a signal of event time ``event_us`` belongs to."""
    return (event_us - DAY_START_US) // ROUND_US


class Feeder:
    """Sends the day's steps at their wall times from a thread; ``quote`` puts a chain
    where the broker reads it (the quotes topic, or the local Alpaca server)."""

    def __init__(self, run: Run, steps: list[Step], quote: Callable[[int, float], None]) -> None:
        self.run, self.steps, self.quote = run, steps, quote
        self.event_us = steps[0].event_us
        self.sent_posts: list[str] = []
        self.error: BaseException | None = None
        self.done, self.stop = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._feed, name="feeder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _feed(self) -> None:
        started = time.monotonic()
        try:
            for step in self.steps:
                while time.monotonic() - started < step.at_s and not self.stop.is_set():
                    time.sleep(0.02)
                if self.stop.is_set():
                    break
                self.event_us = step.event_us
                if step.spot is not None:
                    self.quote(step.event_us, step.spot)
                for pid, author, text, event_us in step.posts:
                    self.run.producer.send("posts", "Post", pid, post(pid, author, text, event_us))
                    self.sent_posts.append(pid)
                self.run.producer.poll(0)
            if self.run.producer.flush(180):
                raise RuntimeError("records not delivered to Kafka within 180 s")
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            self.done.set()


def kafka_quotes(run: Run) -> Callable[[int, float], None]:
    """Chains onto the quotes topic (the simulated broker fills against them)."""
    def quote(event_us: int, spot: float) -> None:
        for q in chain(event_us, spot):
            run.producer.send("quotes", "Quote", "SPY", q)
    return quote


def alpaca_quotes(server: Any) -> Callable[[int, float], None]:
    """Chains on the local Alpaca server (the trading workers' chain agent fetches them)."""
    def quote(event_us: int, spot: float) -> None:
        for q in chain(event_us, spot):
            if q["option_type"] is None:
                server.set_stock_quote(q["symbol"], q["bid"], q["ask"])
                continue
            if q["symbol"] not in server.account.contracts:
                server.add_contract(q["symbol"], open_interest=5_000)
            server.set_quote(q["symbol"], max(q["bid"], 0.01), q["ask"], 50, 50)
    return quote


# ---- reading Kafka ------------------------------------------------------------------------------
def changelog(bootstrap: str, topic: str) -> list[tuple[Any, Any]]:
    """Every record of a table's changelog, each partition in order (Faust writes JSON keys
    and values; None is a deletion)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"chaos-{uuid.uuid4().hex}",
                         "enable.auto.commit": False, "enable.partition.eof": True})
    records: list[tuple[Any, Any]] = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions or {}
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                for p in partitions}
        left = {p for p, (low, high) in ends.items() if high > low}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in left])
        while left:
            msg = consumer.poll(10)
            error = msg.error() if msg is not None else None
            if msg is None or (error is not None and error.code() != KafkaError._PARTITION_EOF):
                raise RuntimeError(f"{topic} not read to its end: {error}")
            value = msg.value()
            if error is None:
                records.append((json.loads(msg.key() or b"null"),
                                json.loads(value) if value else None))
            if error is not None or (msg.offset() or 0) >= ends[msg.partition() or 0][1] - 1:
                left.discard(msg.partition() or 0)
    finally:
        consumer.close()
    return records


def table_state(bootstrap: str, topic: str) -> dict[str, Any]:
    """A table as its changelog holds it now."""
    return {k: v for k, v in dict(changelog(bootstrap, topic)).items() if v is not None}


@dataclass(frozen=True)
class GroupView:
    """The app's consumer group as Kafka describes it: the members' pids; the owner, which
    holds partition 0 of ``signals``; the standby, which holds partition 0 of the positions
    table's changelog without it (Faust puts a standby replica's changelog partitions in
    its member's assignment). Owner and standby are None while the group rebalances."""

    members: frozenset[int] = frozenset()
    owner: int | None = None
    standby: int | None = None


def group_view(run: Run) -> GroupView:
    from confluent_kafka.admin import AdminClient

    group, prefix = run.settings.stream.app_id, run.settings.kafka.topic_prefix
    admin = AdminClient({"bootstrap.servers": run.settings.kafka.bootstrap_servers})
    try:
        desc = admin.describe_consumer_groups([group])[group].result(5)
    except Exception:
        return GroupView()

    def holders(topic: str) -> list[int]:
        return [pid_of(m.client_id) for m in desc.members if any(
            tp.topic == topic and tp.partition == 0
            for tp in (m.assignment.topic_partitions if m.assignment else []))]

    members = frozenset(pid_of(m.client_id) for m in desc.members)
    if not str(desc.state).endswith("STABLE"):
        return GroupView(members)
    owner = next(iter(holders(topic_name(prefix, "signals"))), None)
    standby = next((p for p in holders(f"{group}-positions-changelog") if p != owner), None)
    return GroupView(members, owner, standby)


def pid_of(client_id: object) -> int:
    """A worker's pid from its Kafka client id (``<app>-...-<pid>``)."""
    return int(str(client_id).rsplit("-", 1)[-1])


def worker_roles() -> dict[str, str]:
    """Four workers alike: each scores; one owns the account, one holds its standby
    (workers cannot be split by role: docs/architecture.md, "Workers and ownership")."""
    return {f"worker-{n}": "all" for n in range(1, 5)}


def stamp(record: dict[str, Any]) -> int:
    """When its producer emitted a record: its latest trace stamp (µs, wall clock)."""
    return max((int(v) for v in (record.get("trace") or {}).values()), default=0)


# ---- the chaos ----------------------------------------------------------------------------------
@dataclass
class Death:
    """One ``kill -9``: whom, when (wall clock, s), and whether it owned the account."""

    name: str
    at: float
    owner: bool
    why: str


@dataclass
class Switch:
    """The kill switch's wall-clock times: sent, confirmed by the owner, resume sent."""

    sent: float = 0.0
    confirmed: float = 0.0  # when seen on (or when the wait for it gave up)
    resumed: float = 0.0
    seen_on: bool = False  # the owner's control table said killed


@dataclass
class Chaos:
    """The workers, the kills and the disruptions of one run."""

    run: Run
    kafka: KafkaLocalConfig
    rng: random.Random
    roles: dict[str, str] = field(default_factory=worker_roles)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    deaths: list[Death] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    restart_at: dict[str, float] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)  # monotonic s of each start
    disrupted: float = 0.0  # wall s of the last owner kill or broker restart
    last_tick_us: int = 0
    broker_down_s: float = 0.0
    broker_back: float = 0.0  # monotonic s when the restarted Kafka broker answered
    zombies_checked: float = 0.0
    switch: Switch = field(default_factory=Switch)
    skipped: list[str] = field(default_factory=list)  # actions the time bound left out

    def note(self, name: str, text: str) -> None:
        with (self.run.workdir / f"{name}.log").open("a") as log:
            log.write(f"[chaos] {datetime.now(UTC):%H:%M:%S.%f} {text}\n")

    def start(self, name: str) -> None:
        """Start (again) worker ``name``: its own data dir and log, its role if any."""
        run, role = self.run, self.roles[name]
        self.note(name, f"starting {name} (role {role})")
        env = {**run.worker_env, **({"STOCKTRACKER_ROLE": role} if role != "all" else {})}
        self.procs[name] = run.others[name] = start_worker(
            run.settings, run.settings.kafka.topic_prefix, run.settings.stream.app_id,
            run.workdir / name, run.workdir / f"{name}.log", env)
        self.started[name] = time.monotonic()
        self.restart_at.pop(name, None)

    def kill(self, name: str, owner: bool, why: str) -> None:
        self.note(name, f"kill -9 {name} pid {self.procs[name].pid} ({why})")
        self.run.kill(self.procs[name])
        self.deaths.append(Death(name, time.time(), owner, why))
        self.restart_at[name] = time.monotonic() + 1.0
        if owner:
            self.disrupted = time.time()
        print(f"  {time.strftime('%H:%M:%S')} kill -9 {name} ({why})", flush=True)

    def tend(self) -> None:
        """Restart the workers due, any that exited without being killed, and any alive
        but out of the group (:meth:`zombies`)."""
        self.zombies()
        for name, proc in self.procs.items():
            if proc.poll() is not None and name not in self.restart_at:
                self.crashes.append(f"{name} exited by itself (rc {proc.returncode})")
                self.note(name, f"exited by itself with rc {proc.returncode}")
                self.restart_at[name] = time.monotonic()
        for name, due in list(self.restart_at.items()):
            if time.monotonic() >= due:
                self.start(name)
        for tick in self.run.monitor.records["ticks"][-50:]:
            self.last_tick_us = max(self.last_tick_us, stamp(tick))

    def zombies(self) -> None:
        """A worker alive but out of the group for ``ZOMBIE_S`` (Faust's assignor raised in
        its consumer's coordinator task, which then stays dead) is killed and started again,
        as a supervisor's liveness check would; it counts as a crash, not as a kill."""
        now = time.monotonic()
        if now - self.zombies_checked < 2.0 or now - self.broker_back < ZOMBIE_S:
            return
        self.zombies_checked = now
        members = group_view(self.run).members
        for name, proc in self.procs.items():
            if (members and proc.pid not in members and proc.poll() is None
                    and name not in self.restart_at and now - self.started[name] > ZOMBIE_S):
                self.crashes.append(f"{name} (pid {proc.pid}) alive but out of the group: "
                                    "restarted")
                self.note(name, f"pid {proc.pid} alive but out of the group: kill -9 and restart")
                self.run.kill(proc)
                self.restart_at[name] = now

    def trading(self) -> bool:
        """True once an owner has ticked since the last owner kill or broker restart."""
        return self.last_tick_us > self.disrupted * 1e6

    def name_of(self, pid: int | None) -> str | None:
        return next((n for n, p in self.procs.items() if p.pid == pid), None)

    def owner_kept(self, view: GroupView) -> str:
        """Why the owner may not be killed now ('' when it may)."""
        standby = self.name_of(view.standby)
        if self.name_of(view.owner) is None:
            return "no owner known (the group is rebalancing)"
        if not self.trading():
            return "no tick since the last disruption"
        if standby is None or standby in self.restart_at:
            return "no standby replica in the group"
        if time.monotonic() - self.started[standby] < WARM_S:
            return f"the standby {standby} started less than {WARM_S:.0f} s ago"
        return ""

    def kill_random(self, spare_trading: bool = False) -> None:
        """A worker at random; the owner only when :meth:`owner_kept` allows it; with
        ``spare_trading``, neither the owner nor its standby (nor a trading worker)."""
        view = group_view(self.run)
        owner, standby = self.name_of(view.owner), self.name_of(view.standby)
        trading = {n for n in self.procs if self.roles[n] == "trade"} | {owner, standby}
        names = [n for n in sorted(self.procs) if n not in self.restart_at
                 and not (spare_trading and n in trading)
                 and (n != owner or not self.owner_kept(view))]
        name = self.rng.choice(names or sorted(self.procs))
        self.kill(name, name == owner, "owner, at random" if name == owner else
                  "standby, at random" if name == standby else "at random")

    def kill_owner_after_fill(self, deadline: float) -> None:
        """Wait for an owner that may be killed, then for a new fill, then kill it."""
        owner, seen, asked, ready, kept = None, -1, 0.0, deadline, "not asked"
        while time.monotonic() < deadline:
            self.run.monitor.poll(0.05)
            self.tend()
            fills = len({(f["client_order_id"], f.get("execution_id"))
                         for f in self.run.monitor.records["fills"]})
            if owner is not None and seen >= 0 and fills > seen:
                self.kill(owner, True, "owner, right after a fill")
                return
            if seen < 0 and time.monotonic() - asked > 1.0:
                view = group_view(self.run)
                asked, owner, kept = time.monotonic(), self.name_of(view.owner), self.owner_kept(view)
                seen, ready = (fills, asked) if not kept else (-1, deadline)
        view = group_view(self.run)
        owner, kept = self.name_of(view.owner), self.owner_kept(view)
        if owner is not None and not kept:
            self.kill(owner, True, f"owner, no fill {deadline - ready:.0f} s after it was ready")
        else:
            print(f"  no owner kill in 20 s: {kept}", flush=True)
            self.kill_random(spare_trading=True)

    def restart_broker(self) -> None:
        print(f"  {time.strftime('%H:%M:%S')} restarting the Kafka broker", flush=True)
        began = time.monotonic()
        kafka_local.down(self.kafka)
        kafka_local.up(self.kafka)
        self.broker_down_s = time.monotonic() - began
        self.disrupted, self.broker_back = time.time(), time.monotonic()
        for name in self.procs:
            self.note(name, f"Kafka broker restarted ({self.broker_down_s:.1f} s down)")


def control(run: Run, producer: RecordProducer, command: str, event_us: int) -> None:
    record = {"command": command, "actor": "chaos-bench", "params": {"reason": "chaos bench"},
              "event_time": event_us, "trace": {}}
    producer.send("control", "Control", "operator", record)
    producer.flush(60)


def killed(run: Run) -> bool:
    """True once the owner's control table says the kill switch is on."""
    try:
        state = table_state(run.settings.kafka.bootstrap_servers,
                            f"{run.settings.stream.app_id}-control-changelog")
    except Exception:
        return False
    return bool((state.get("operator") or {}).get("killed"))


def kill_switch(chaos: Chaos, feeder: Feeder, producer: RecordProducer) -> None:
    """Kill, wait for the owner's confirmation (at most 60 s), hold, resume."""
    run = chaos.run
    chaos.switch.sent = time.time()
    control(run, producer, "kill", feeder.event_us)
    print(f"  {time.strftime('%H:%M:%S')} kill switch sent", flush=True)
    for _ in until(60.0, 0.5):
        chaos.tend()
        if killed(run):
            chaos.switch.seen_on = True
            break
    chaos.switch.confirmed = time.time()
    held = time.monotonic()
    for _ in until(45.0, 0.1):  # a few seconds, and until the switch refused two signals
        run.monitor.poll(0.05)
        chaos.tend()
        if time.monotonic() - held > SWITCH_HOLD_S and len(refused(run, chaos.switch)) >= 2:
            break
    chaos.switch.resumed = time.time()
    control(run, producer, "resume", feeder.event_us)
    print(f"  {time.strftime('%H:%M:%S')} resume sent (the owner "
          + ("confirmed the kill" if chaos.switch.seen_on else "did NOT confirm the kill in")
          + f" {chaos.switch.confirmed - chaos.switch.sent:.1f} s after it was sent)", flush=True)


def refused(run: Run, switch: Switch) -> set[str]:
    """Entries the kill switch refused since the owner confirmed it."""
    return {o["client_order_id"] for o in run.monitor.records["orders"]
            if o["status"] == "rejected" and "kill" in (o.get("reason") or "")
            and o["trace"].get("execute_out", 0) >= switch.confirmed * 1e6}


def until(seconds: float, pause: float) -> Iterator[None]:
    """Yield every ``pause`` seconds for ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield
        time.sleep(pause)


def plan(kills: int, seconds: float, rng: random.Random) -> list[tuple[float, str]]:
    """(seconds into the day, action), in order: kills, the switch, the broker restart."""
    gap = seconds / (kills + 1)
    kinds = ("other", "owner-after-fill", "random")
    actions = [((i + 1) * gap + rng.uniform(-0.3, 0.3) * gap, kinds[i % 3]) for i in range(kills)]
    actions += [(0.30 * seconds, "kill-switch"), (0.55 * seconds, "broker-restart")]
    return sorted(actions)


def unleash(chaos: Chaos, feeder: Feeder, producer: RecordProducer, kills: int,
            seconds: float) -> None:
    """Run the plan while the feeder sends the day. Nothing is done during a take-over
    (until an owner ticks again, 30 s at most): a member joining or leaving the group
    rebalances it and would stretch the failover being measured."""
    started, last = time.monotonic(), 0.0
    for due, action in plan(kills, seconds, chaos.rng):
        if time.monotonic() - started > seconds + OVERRUN_S:  # the run stays bounded
            chaos.skipped.append(action)
            continue
        while time.monotonic() - started < due or time.monotonic() - last < MIN_GAP_S:
            chaos.run.monitor.poll(0.05)
            chaos.tend()
        for _ in until(30.0, 0.1):
            chaos.run.monitor.poll(0.05)
            chaos.tend()
            if chaos.trading():
                break
        if action in ("random", "other"):
            chaos.kill_random(spare_trading=action == "other")
        elif action == "owner-after-fill":
            chaos.kill_owner_after_fill(time.monotonic() + 20.0)
        elif action == "kill-switch":
            kill_switch(chaos, feeder, producer)
        else:
            chaos.restart_broker()
        last = time.monotonic()
    while not feeder.done.is_set():
        chaos.run.monitor.poll(0.05)
        chaos.tend()


def activity(run: Run) -> int:
    """Distinct order states and distinct fills so far (what is published again, as a
    reconciliation does, does not count)."""
    records = run.monitor.records
    orders = {(o["client_order_id"], o["status"], o.get("filled_qty")) for o in records["orders"]}
    fills = {(f["client_order_id"], f.get("execution_id"), f.get("order_filled_qty"), f["qty"])
             for f in records["fills"]}
    return len(orders) + len(fills)


def unbooked(run: Run) -> int:
    """Fills on the topic the book has not answered yet: the book agent publishes a
    ``Position`` for every fill it handles (applied or not), its trace the fill's plus the
    book's stamps."""
    answered = {frozenset((k, v) for k, v in p["trace"].items() if not k.startswith("book_"))
                for p in run.monitor.records["positions"]}
    return sum(frozenset(f["trace"].items()) not in answered for f in run.monitor.records["fills"])


def settle(chaos: Chaos, feeder: Feeder, timeout_s: float) -> str:
    """Wait until every worker is back, an owner ticks, every post is scored, the book has
    answered every fill, and no new order state or fill came for ``QUIET_S`` (counted from
    the owner's first tick at the earliest); what was still missing when ``timeout_s`` ran
    out ('' when settled)."""
    quiet_since, seen, missing = time.monotonic(), -1, ["nothing checked"]
    for _ in until(timeout_s, 0.1):
        chaos.run.monitor.poll(0.1)
        chaos.tend()
        if (now := activity(chaos.run)) != seen or not chaos.trading():
            quiet_since, seen = time.monotonic(), now
        unscored = set(feeder.sent_posts) - {s["post_id"] for s in chaos.run.monitor.records["scores"]}
        pending = unbooked(chaos.run)
        missing = [what for what, bad in (
            ("workers restarting", bool(chaos.restart_at)), ("no owner ticking", not chaos.trading()),
            (f"{len(unscored)} posts unscored", bool(unscored)),
            (f"{pending} fills not answered by the book", pending > 0),
            ("orders or fills still coming", time.monotonic() - quiet_since < QUIET_S)) if bad]
        if not missing:
            return ""
    return ", ".join(missing)


def start_all(chaos: Chaos, feeder: Feeder, timeout_s: float = 180.0) -> None:
    """Start the four workers and wait until an owner ticks (a first chain gives it a clock)."""
    for name in chaos.roles:
        chaos.start(name)
    feeder.quote(DAY_START_US - 60 * 10**6, SPOT)
    for _ in until(timeout_s, 0.2):
        chaos.run.monitor.poll(0.05)
        chaos.tend()
        if chaos.last_tick_us and len(group_view(chaos.run).members) == len(chaos.roles):
            return
    raise RuntimeError(f"the workers did not start in {timeout_s:.0f} s:\n{chaos.run.log_tail()}")


# ---- the broker's account and the book ------------------------------------------------------------
@dataclass(frozen=True)
class Account:
    """What the broker says: every execution, positions, accepted entry orders, cash."""

    executions: list[Execution]
    positions: dict[str, int]
    entries: list[str]
    cash: float


def simulated_account(run: Run) -> Account:
    k = run.settings.kafka
    saved = KafkaJournal(k.bootstrap_servers, topic_name(k.topic_prefix, "sim-broker"),
                         "simulated").load()
    state = SimState.from_dict(saved) if saved else SimState(cash=START_CASH)
    return Account(list(state.executions), {s: p.qty for s, p in state.positions.items()},
                   [c for c, o in state.orders.items() if o.side == "buy" and o.event != "rejected"],
                   state.cash)


def alpaca_account(server: Any) -> Account:
    from connectors.alpaca.convert import execution_id_of

    acct = server.account
    coid = {oid: o["client_order_id"] for oid, o in acct.orders.items()}
    executions = [Execution(execution_id_of(a["id"]), coid[a["order_id"]], a["order_id"],
                            a["symbol"], a["side"], int(a["qty"]), float(a["price"]),
                            int(a["cum_qty"]), 0.0,
                            int(datetime.fromisoformat(a["transaction_time"]).timestamp() * 1e6))
                  for a in acct.fills]
    return Account(executions, {s: q for s, (q, _) in acct.positions.items()},
                   [o["client_order_id"] for o in acct.orders.values()
                    if o["side"] == "buy" and o["status"] != "rejected"], acct.cash)


def broker_realized(executions: list[Execution]) -> float:
    """Realised P&L of the executions by average cost, commission included (as the book)."""
    books: dict[str, dict[str, Any]] = {}
    for e in sorted(executions, key=lambda e: e.at_us):
        books[e.symbol] = apply_fill(books.get(e.symbol), e.side, e.qty, e.price, e.commission)
    return sum(float(b["realized_pnl"]) for b in books.values())


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


# ---- the figures --------------------------------------------------------------------------------
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


def report(out: Outcome, broker: str) -> None:
    """The figures with their goals, then what explains them."""
    roles = ", ".join(f"{n} ({r})" for n, r in out.chaos.roles.items())
    print(f"\nchaos bench: {broker} broker, workers {roles}, {ROUNDS} rounds, real Kafka"
          + (f" (NOT settled: {out.unsettled})" if out.unsettled else ""))
    print(f"{'figure':<26}{'value':>10}   goal")
    for key, value in out.figures.items():
        shown = "-" if value is None else f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"{key:<26}{shown:>10}   {GOALS[key]}")
    report_failovers(out.chaos)
    report_counts(out)
    for note in out.notes:
        print(f"  {note}")
    print(f"worker logs: {out.chaos.run.workdir}/*.log")


def report_failovers(chaos: Chaos) -> None:
    print("\nkills: " + ", ".join(f"{d.name} ({d.why})" for d in chaos.deaths))
    print("per owner killed: seconds to the next owner's first tick or entry decision; the "
          "longest wait of a signal that came meanwhile")
    for death, took, wait in failovers(chaos.run, chaos.deaths):
        print(f"  {datetime.fromtimestamp(death.at, UTC):%H:%M:%S} {death.name:<8} "
              f"{death.why:<28} {took:6.2f} s   "
              + (f"a signal waited {wait:.2f} s" if wait is not None else "no signal meanwhile"))


def report_counts(out: Outcome) -> None:
    records, account, chaos = out.chaos.run.monitor.records, out.account, out.chaos
    filled = {o["client_order_id"] for o in records["orders"]
              if o.get("intent") == "open" and o.get("status") == "filled"}
    print(f"\nposts {len(records['posts'])}, signals {len({s['id'] for s in records['signals']})} "
          f"({len(records['signals'])} records), entries the "
          f"broker accepted {len(account.entries)} (filled {len(filled)}), refused by the kill "
          f"switch {len(refused(chaos.run, chaos.switch))}, broker executions "
          f"{len(account.executions)}, fills on the topic {len(records['fills'])} "
          f"({len(distinct_fills(records['fills']))} distinct), dead letters "
          f"{len(records['deadletter'])}")
    print(f"broker: cash {account.cash:,.2f} (start {START_CASH:,.0f}), realised "
          f"{broker_realized(account.executions):,.2f}, open contracts "
          f"{sum(account.positions.values())}; book: realised "
          f"{sum(float(p.get('realized_pnl', 0.0)) for p in out.book.values()):,.2f}, open "
          f"{sum(int(p.get('qty', 0)) for p in out.book.values())}")
    print(f"Kafka broker restart: {chaos.broker_down_s:.1f} s; kill switch "
          + ("confirmed by the owner" if chaos.switch.seen_on else "NOT confirmed by the owner in")
          + f" {chaos.switch.confirmed - chaos.switch.sent:.1f} s after it was sent, resumed "
          f"{chaos.switch.resumed - chaos.switch.confirmed:.1f} s later")


def diagnose(chaos: Chaos, account: Account, book: dict[str, Any]) -> list[str]:
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
    return notes + silent_rounds(chaos.run)


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


# ---- main ----------------------------------------------------------------------------------------
def settings(bootstrap: str, workdir: Path) -> Settings:
    name = f"chaos{uuid.uuid4().hex[:8]}"
    return Settings(kafka=KafkaSettings(bootstrap_servers=bootstrap, topic_prefix=f"{name}.",
                                        partitions=2),
                    stream=StreamSettings(app_id=name, data_dir=workdir / name,
                                          web_port=kafka_local.free_port()))


@contextlib.contextmanager
def alpaca_server(broker: str) -> Iterator[Any]:
    """The local Alpaca server (None for the simulated broker)."""
    if broker != "alpaca":
        yield None
        return
    from connectors.simulated.alpaca_server import AlpacaServer, serve_in_thread

    with serve_in_thread(AlpacaServer(api_key=ALPACA_KEY, secret_key=ALPACA_SECRET)) as server:
        yield server


def worker_env(server: Any) -> dict[str, str]:
    env = dict(BENCH_ENV)
    if server is not None:
        env.update({"TRADING_BROKER": "alpaca", "ALPACA_API_KEY": ALPACA_KEY,
                    "ALPACA_SECRET_KEY": ALPACA_SECRET, "ALPACA_TRADING_URL": server.url,
                    "ALPACA_DATA_URL": server.url, "ALPACA_STREAM_URL": server.stream_url,
                    "ALPACA_POLL_INTERVAL_S": "0.5",
                    # the day runs ~140 times faster than real time: a chain every second,
                    # and Alpaca's 200 requests a minute lifted (as bench/execution.py does)
                    "ALPACA_CHAIN_REFRESH_S": "1", "ALPACA_REQUESTS_PER_MINUTE": "6000"})
    return env


def chaos_run(cfg: KafkaLocalConfig, workdir: Path, args: argparse.Namespace) -> Outcome:
    """Start, feed the day, unleash the chaos, settle, read the broker and the book; the
    workers are killed and the topics deleted whatever happens."""
    with alpaca_server(args.broker) as server:
        run = Run(settings(cfg.bootstrap, workdir), workdir, worker_env=worker_env(server))
        run.monitor.keep = (*KEEP, "posts", "ticks")
        chaos = Chaos(run, cfg, random.Random(args.seed))
        producer = RecordProducer(cfg.bootstrap, run.codec, run.settings.kafka.topic_prefix)
        feeder = Feeder(run, day_steps(args.seconds),
                        alpaca_quotes(server) if server else kafka_quotes(run))
        if server is not None:  # the server's clock is the day's
            server.account.clock = lambda: datetime.fromtimestamp(feeder.event_us / 1e6, UTC)
        try:
            start_all(chaos, feeder)
            feeder.start()
            unleash(chaos, feeder, producer, args.kills, args.seconds)
            if feeder.error is not None:
                raise RuntimeError(f"the feeder failed: {feeder.error!r}")
            unsettled = settle(chaos, feeder, 120.0)
            print(f"  {time.strftime('%H:%M:%S')} "
                  + (f"NOT settled: {unsettled}" if unsettled else "settled"), flush=True)
            account = alpaca_account(server) if server else simulated_account(run)
            book = table_state(cfg.bootstrap, f"{run.settings.stream.app_id}-positions-changelog")
            return Outcome(chaos, account, book, figures(chaos, account, book, feeder.sent_posts),
                           unsettled, diagnose(chaos, account, book))
        finally:
            feeder.stop.set()
            for proc in chaos.procs.values():
                run.kill(proc)
            run.close()


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """librdkafka writes its connection errors (hundreds while the broker restarts, more
    while the clients of the run wind down) to fd 2: send them to ``path`` for the rest of
    the process; the real stderr comes back only for an exception's traceback."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as log:
        os.dup2(log.fileno(), 2)
    try:
        yield
    except BaseException:
        sys.stderr.flush()
        os.dup2(saved, 2)
        raise
    finally:
        os.close(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--kills", type=int, default=14)
    parser.add_argument("--seconds", type=float, default=150.0, help="wall time of the day")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--broker", choices=("simulated", "alpaca"), default="simulated")
    parser.add_argument("--records", type=Path, default=None,
                        help="write every record read (JSON lines: topic, record) for digging")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up on SIGTERM too
    workdir = Path(tempfile.mkdtemp(prefix="stocktracker-chaos-"))
    began = time.monotonic()
    print(f"chaos bench: {args.kills} kills over a {args.seconds:.0f} s day; logs in {workdir}",
          flush=True)
    try:
        with stderr_to(workdir / "bench-stderr.log"), \
                kafka_local.throwaway(workdir / "kafka") as cfg:
            outcome = chaos_run(cfg, workdir, args)
    finally:
        for path in workdir.iterdir():  # the broker's and the workers' data; logs stay
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
    report(outcome, args.broker)
    print(f"wall time {time.monotonic() - began:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(outcome.figures, indent=2) + "\n")
    if args.records:
        with args.records.open("w") as out:
            for topic, kept in outcome.chaos.run.monitor.records.items():
                for record in kept:
                    out.write(json.dumps({"topic": topic, "record": record}, default=str) + "\n")


if __name__ == "__main__":
    main()
