"""The chaos bench's workers and what is done to them: each started with its own data dir
and log, killed with ``kill -9`` and started again a second later, restarted when it died
by itself or stayed alive out of the group; the Kafka broker stopped and started under
them; which worker may be killed when. When each happens: ``bench/chaos_plan.py``."""

from __future__ import annotations

import random
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.chaos_kafka import GroupView, group_view, stamp
from stocktracker.streams.commands import kafka_local
from stocktracker.streams.commands.kafka_local import KafkaLocalConfig
from stocktracker.streams.commands.local_run import Run, start_worker

ZOMBIE_S = 30.0
WARM_S = 20.0  # a standby this long in the group has recovered its replicas


def worker_roles() -> dict[str, str]:
    """Four workers alike: each scores; one owns the account, one holds its standby
    (workers cannot be split by role: docs/architecture.md, "Workers and ownership")."""
    return {f"worker-{n}": "all" for n in range(1, 5)}


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
