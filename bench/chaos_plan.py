"""The chaos of a run in its order: the workers started, then while the day is fed the
kills, the kill switch and the Kafka broker restart, then the wait until all has settled.

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
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

from bench.chaos_day import DAY_START_US, SPOT, Feeder
from bench.chaos_kafka import group_view, table_state
from bench.chaos_kills import Chaos, Switch
from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.core.producer import RecordProducer

SWITCH_HOLD_S = 8.0
MIN_GAP_S = 4.0
OVERRUN_S = 180.0  # the plan's actions still due this long after the day are skipped
QUIET_S = 15.0


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
