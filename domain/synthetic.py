"""A seeded trading day where post sentiment leads the price by a known amount.

News events move the underlying over a few minutes; in the ``lead_s`` seconds before each
event, a burst of posts from distinct authors carries its direction. Background chatter
is mixed. With ``shuffle_posts`` the texts are permuted over the timestamps, so they carry
no information. Everything follows from the seed.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from domain.pricing import bs_delta, bs_price, implied_vol_skew, occ_symbol, year_fraction_us

BULLISH = [
    "${t} breaking out, loading calls 🚀", "${t} calls printing, this is going to rip",
    "bought more ${t} calls, bulls in control 📈", "${t} ripping through resistance, very bullish",
    "${t} to the moon 🚀🚀 tendies incoming", "huge buying on ${t}, breakout confirmed",
    "${t} strong bid, buy the dip worked, calls up big", "${t} short squeeze starting 🐂",
]
BEARISH = [
    "${t} breaking down, loading puts 📉", "${t} puts printing, market dumping",
    "${t} tanking hard, bears in control 🐻", "${t} rejected at resistance, very bearish",
    "sell-off on ${t} incoming, bought puts", "${t} cratering, bagholders getting rekt 🩸",
    "${t} weak all day, this is going lower", "${t} rug pull, dump it 📉",
]
NEUTRAL = [
    "watching ${t} today", "${t} flat so far", "anyone trading ${t} this afternoon?",
    "${t} volume looks normal", "what's the plan for ${t} into the close",
    "${t} chopping around", "lunch time, ${t} sideways",
]
RATE = 0.04


@dataclass(frozen=True, slots=True)
class OptionQuoteTick:
    """A quote of the underlying (``option_type`` None) or of one option contract."""

    symbol: str
    underlying: str
    ts_us: int
    bid: float
    ask: float
    bid_size: int
    ask_size: int
    option_type: str | None
    strike: float | None
    expiry: str | None
    iv: float | None
    delta: float | None


@dataclass(frozen=True, slots=True)
class SyntheticDay:
    """A generated session: price path, quotes, posts and the events the posts foretell."""

    underlying: str
    session_open_us: int
    session_close_us: int
    seed: int
    lead_s: float
    path: list[tuple[int, float]]
    quotes: list[OptionQuoteTick]
    posts: list[dict[str, object]]
    drift_events: list[tuple[int, float]]


def _us(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("session times must be timezone-aware")
    return int(moment.timestamp() * 1_000_000)


def generate_day(session_open: datetime, session_close: datetime, *, seed: int,
                 underlying: str = "SPY", start_price: float = 590.0,
                 annual_vol: float = 0.15, step_s: float = 1.0, quote_every_s: float = 5.0,
                 strikes_each_side: int = 10, strike_step: float = 1.0, lead_s: float = 120.0,
                 events: int = 8, posts_per_minute: float = 6.0,
                 shuffle_posts: bool = False) -> SyntheticDay:
    """Generate one trading day (see the module docstring)."""
    open_us, close_us = _us(session_open), _us(session_close)
    rng = random.Random(seed)
    margin = 20 * 60 * 1_000_000
    events_at = sorted(rng.randrange(open_us + margin, close_us - margin) for _ in range(events))
    drift = [(t, rng.choice((-1, 1)) * rng.uniform(0.003, 0.008)) for t in events_at]
    ramp_us = 240 * 1_000_000
    step_us = int(step_s * 1e6)
    sigma = annual_vol * math.sqrt(step_s / (252 * 6.5 * 3600))
    path: list[tuple[int, float]] = []
    log_price = math.log(start_price)
    for ts in range(open_us, close_us + 1, step_us):
        log_price += rng.gauss(0.0, sigma)
        for at, ret in drift:
            if at <= ts < at + ramp_us:
                log_price += math.log1p(ret) * step_us / ramp_us
        path.append((ts, math.exp(log_price)))
    quotes = _quotes(path, rng, underlying, close_us, quote_every_s, strikes_each_side,
                     strike_step, annual_vol, session_open)
    posts = _posts(rng, underlying, open_us, close_us, drift, lead_s, posts_per_minute, seed,
                   shuffle_posts)
    return SyntheticDay(underlying, open_us, close_us, seed, lead_s, path, quotes, posts, drift)


def _quotes(path: list[tuple[int, float]], rng: random.Random, underlying: str, close_us: int,
            every_s: float, each_side: int, strike_step: float, vol: float,
            session_open: datetime) -> list[OptionQuoteTick]:
    expiry = session_open.astimezone(_exchange_tz()).date()
    out: list[OptionQuoteTick] = []
    next_us = path[0][0]
    for ts, spot in path:
        if ts < next_us:
            continue
        next_us = ts + int(every_s * 1e6)
        out.append(OptionQuoteTick(underlying, underlying, ts, round(spot - 0.01, 2),
                                   round(spot + 0.01, 2), rng.randint(100, 900),
                                   rng.randint(100, 900), None, None, None, None, None))
        t = year_fraction_us(ts, close_us)
        atm = round(spot / strike_step) * strike_step
        for i in range(-each_side, each_side + 1):
            strike = round(atm + i * strike_step, 2)
            iv = implied_vol_skew(spot, strike, vol)
            for kind in ("call", "put"):
                price = bs_price(spot, strike, t, iv, RATE, kind)
                half = max(0.01, 0.01 + 0.02 * price) / 2 + 0.005 * abs(i)
                bid = max(0.0, round(price - half, 2))
                ask = max(round(price + half, 2), round(bid + 0.01, 2))
                out.append(OptionQuoteTick(
                    occ_symbol(underlying, expiry, kind, strike), underlying, ts, bid, ask,
                    rng.randint(1, 200), rng.randint(1, 200), kind, strike, expiry.isoformat(),
                    round(iv, 4), round(bs_delta(spot, strike, t, iv, RATE, kind), 4)))
    return out


def _exchange_tz():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def _posts(rng: random.Random, ticker: str, open_us: int, close_us: int,
           drift: list[tuple[int, float]], lead_s: float, per_minute: float, seed: int,
           shuffle: bool) -> list[dict[str, object]]:
    timed: list[tuple[int, str]] = []
    mean_gap_us = 60e6 / per_minute
    ts = open_us
    while True:
        ts += int(rng.expovariate(1.0) * mean_gap_us) + 1
        if ts >= close_us:
            break
        timed.append((ts, rng.choice(NEUTRAL + NEUTRAL + BULLISH[:2] + BEARISH[:2])))
    for at, ret in drift:
        pool = BULLISH if ret > 0 else BEARISH
        for _ in range(rng.randint(6, 15)):
            timed.append((at - int(rng.uniform(0, lead_s) * 1e6), rng.choice(pool)))
    timed.sort()
    texts = [text for _, text in timed]
    if shuffle:
        rng.shuffle(texts)
    posts: list[dict[str, object]] = []
    for n, ((ts, _), text) in enumerate(zip(timed, texts, strict=True)):
        posts.append({
            "id": f"syn-{seed}-{n}", "source": "synthetic",
            "author": f"trader{rng.randrange(400)}", "text": text.replace("${t}", f"${ticker}"),
            "created_at_us": ts, "followers": rng.randrange(20, 50_000),
            "likes": rng.randrange(0, 300), "reposts": rng.randrange(0, 40),
            "replies": rng.randrange(0, 60), "url": None, "lang": "en",
        })
    return posts


def write_posts_jsonl(posts: Iterable[dict[str, object]], path: Path) -> int:
    """Write posts as JSONL; returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for post in posts:
            handle.write(json.dumps(post, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_posts_jsonl(path: Path) -> Iterator[dict[str, object]]:
    """Read posts from JSONL."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
