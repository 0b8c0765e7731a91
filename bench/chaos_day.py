"""The trading day the chaos bench replays, and the feeder that sends it.

The day (event time, 2026-11-24)
    48 rounds six minutes apart from 09:36 New York, spread evenly over ``--seconds`` of
    wall time. A round: a chain around 590; five posts by five authors (bullish and bearish
    rounds alternate); the underlying three points in favour, then 3.5 (two rounds in
    three: the profit target rests, then fills) or against (the stop fires). Each round
    makes one signal: the cool-down is 300 s, the rounds 360 s apart, the hopping window
    300 s. A chain a minute from 15:11 New York closes what is left (the time exit).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stocktracker.streams.commands.local_run import Run
from stocktracker.streams.samples import at, chain, post

SPOT = 590.0
ROUNDS = 48
CLOSING_CHAINS = 12
ROUND_US = 360 * 10**6
DAY_START_US = at(14, 36)  # 09:36 New York
TEXTS = {"bullish": ("$SPY breaking out, loading calls 🚀", "$SPY calls printing, very bullish",
                     "bought more $SPY calls, bulls in control 📈"),
         "bearish": ("$SPY breaking down, loading puts 🐻", "$SPY puts printing, very bearish, "
                     "dump incoming", "$SPY rug pull, bagholders crying, puts 📉")}


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
