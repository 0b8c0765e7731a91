"""A seeded trading day where post sentiment leads the price by a known amount.

The underlying follows a GBM at ``annual_vol`` (365-day year, the year the options are
priced with) plus ``events`` news moves: each starts at its event time (never in the first
or last 20 minutes, events far enough apart that windows do not overlap) and is realised
smoothly over 2 to 5 minutes. In the ``lead_s`` seconds before each event a burst of 6 to
15 posts from distinct authors carries the event's direction (more when the chatter in
that window leans the other way, so the window's net direction is always the event's);
background chatter at ``posts_per_minute`` is mostly neutral (15% bullish, 15% bearish).
With ``shuffle_posts`` the texts (and so their directions) are permuted over the same
timestamps and authors: posts then say nothing about the price direction (their volume
still rises before events).
Everything follows from the seed. Pure apart from the two JSONL helpers.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from stocktracker.domain.pricing import US_PER_YEAR, bs_price_delta, implied_vol_skew, occ_symbol

# Post templates by direction: {t} is "$SPY" or "SPY", {k} a strike near the spot.
TEMPLATES: dict[int, tuple[str, ...]] = {
    1: ("{t} breaking out, loading calls", "{t} calls printing, this is going to rip",
        "bought more {t} {k}c, bulls in control", "{t} ripping through resistance, very bullish",
        "{t} to the moon, tendies incoming", "huge buying on {t}, breakout confirmed",
        "{t} strong bid, buy the dip worked", "{t} short squeeze starting",
        "just grabbed {t} {k}c for EOD, this is going higher", "green candles on {t}, calls it is",
        "{t} pumping off support", "loaded calls on {t}, lets go", "{t} soaring, my calls up big",
        "{t} rally is real, going up from here"),
    -1: ("{t} breaking down, loading puts", "{t} puts printing, market dumping",
         "{t} tanking hard, bears in control", "{t} rejected at resistance, very bearish",
         "sell-off on {t} incoming, bought {k}p", "{t} cratering, bagholders getting rekt",
         "{t} weak all day, this is going lower", "{t} rug pull, dump it",
         "grabbed {t} {k}p, this is going down", "red everywhere, {t} plunging",
         "{t} drilling, new lows today", "{t} selling off hard, puts it is",
         "{t} crash incoming, loaded puts", "{t} bleeding, bulls rekt"),
    0: ("watching {t} today", "{t} flat so far", "anyone trading {t} this afternoon?",
        "{t} volume looks normal", "what's the plan for {t} into the close",
        "{t} chopping around", "lunch time, {t} sideways", "{t} pinned near {k}",
        "sitting out {t} for now", "{t} doing {t} things",
        "where is {t} going today", "{t} range bound for now", "{t} options volume today?",
        "who else is watching {t} {k}"),
}
OPENERS = ("", "", "", "", "ok ", "ngl ", "so ", "guys ", "hmm ")
TAILS: dict[int, tuple[str, ...]] = {
    1: ("", "", " 🚀", " 🚀🚀", " 📈", " 🐂", " 🔥"),
    -1: ("", "", " 📉", " 🐻", " 🩸", " 💀"),
    0: ("", "", "", " 👀"),
}
_HANDLE_A = ("theta", "gamma", "degen", "bull", "bear", "yolo", "chart", "tape", "wick", "spy")
_HANDLE_B = ("gang", "king", "trader", "ape", "wizard", "watcher", "lord", "hands", "monk")
_NY = ZoneInfo("America/New_York")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RATE = 0.04
"""Risk-free rate the chain is priced with."""
_US = 1_000_000
_EDGE_US = 20 * 60 * _US  # no event in the first or last 20 minutes
_RAMPS_S = (120.0, 300.0)  # an event's move is realised over this many seconds


@dataclass(frozen=True, slots=True)
class OptionQuoteTick:
    """A quote of the underlying (``option_type`` None) or of one option contract.

    Attributes
    ----------
    symbol, underlying:
        OCC symbol (e.g. ``SPY261124C00590000``; the ticker for the underlying), ticker.
    ts_us:
        Quote time, µs since the epoch.
    bid, ask, bid_size, ask_size:
        Prices in dollars (cents), sizes in contracts (shares for the underlying).
    option_type, strike, expiry:
        ``"call"``/``"put"``, strike, ISO expiry date; None for the underlying.
    iv, delta:
        The model's implied volatility and delta; None for the underlying.
    """

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
    """A generated session and the answer a backtest should find.

    Attributes
    ----------
    underlying, seed, lead_s:
        Ticker, the seed, how many seconds the posts lead each event.
    session_open_us, session_close_us:
        The session, µs since the epoch.
    path:
        ``(ts_us, mid)`` every ``step_s`` from the open to the close, both included.
    quotes:
        Underlying quote then its 0DTE chain, every ``quote_every_s`` in ``[open, close)``.
    posts:
        JSONL-ready post dicts in time order (see :func:`generate_day`).
    drift_events:
        ``(ts_us the move starts, signed return)``: the news the posts foreshadow.
    """

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
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"session times must be timezone-aware, got {moment!r}")
    return (moment - _EPOCH) // timedelta(microseconds=1)  # exact, no float rounding


def generate_day(session_open: datetime, session_close: datetime, *, seed: int,
                 underlying: str = "SPY", start_price: float = 590.0,
                 annual_vol: float = 0.15, step_s: float = 1.0, quote_every_s: float = 5.0,
                 strikes_each_side: int = 10, strike_step: float = 1.0, lead_s: float = 120.0,
                 events: int = 8, posts_per_minute: float = 6.0,
                 shuffle_posts: bool = False, expiry: date | None = None) -> SyntheticDay:
    """Generate one trading day (see the module docstring); same seed, same day.

    Posts have exactly the keys ``id`` (``syn-<seed>-<n>``), ``source`` ("synthetic"),
    ``author``, ``text``, ``created_at_us``, ``followers``, ``likes``, ``reposts``,
    ``replies``, ``url`` (None) and ``lang`` ("en"). The chain expires on ``expiry``
    (default: the session's own day, 0DTE), priced as closing at the session's close time
    that day. Raises ValueError on naive datetimes, an empty session, a negative seed, an
    expiry before the session, or more events than the session has room for.
    """
    open_us, close_us = _us(session_open), _us(session_close)
    if close_us <= open_us:
        raise ValueError("session_close must be after session_open")
    if (min(step_s, quote_every_s, start_price, strike_step) <= 0
            or min(seed, lead_s, events, annual_vol, strikes_each_side, posts_per_minute) < 0):
        raise ValueError("step_s, quote_every_s, start_price, strike_step must be > 0; seed, "
                         "lead_s, events, annual_vol, strikes_each_side, posts_per_minute >= 0")
    rng = np.random.default_rng([seed, 1])
    drift, ramps = _events(rng, open_us, close_us, events, lead_s)
    step_us = max(1, round(step_s * _US))
    times = np.arange(open_us, close_us + 1, step_us, dtype=np.int64)
    sigma = annual_vol * math.sqrt(step_us / US_PER_YEAR)
    moves = rng.normal(-0.5 * sigma * sigma, sigma, len(times))
    moves[0] = 0.0
    for (at, ret), ramp_us in zip(drift, ramps, strict=True):
        first, last = np.searchsorted(times, [at, at + ramp_us])
        last = max(last, first + 1)  # a step coarser than the ramp takes the move at once
        weights = np.sin(np.pi * (np.arange(first, last) - first + 0.5) / (last - first))
        moves[first:last] += math.log1p(ret) * weights / weights.sum()
    mids = start_price * np.exp(np.cumsum(moves))
    path = list(zip(times.tolist(), mids.tolist(), strict=True))
    session_day = session_open.astimezone(_NY).date()
    expiry_day = expiry or session_day
    if expiry_day < session_day:
        raise ValueError(f"expiry {expiry_day} is before the session's day {session_day}")
    expiry_close_us = close_us + (expiry_day - session_day).days * 86_400 * _US
    quotes = _quotes(np.random.default_rng([seed, 2]), path, step_us, underlying,
                     expiry_day.isoformat(), expiry_close_us, quote_every_s, strikes_each_side,
                     strike_step, annual_vol, close_us)
    posts = _posts(random.Random(f"{seed}:posts"), path, step_us, underlying, close_us, drift,
                   lead_s, posts_per_minute, seed,
                   random.Random(f"{seed}:shuffle") if shuffle_posts else None)
    return SyntheticDay(underlying, open_us, close_us, seed, lead_s, path, quotes, posts, drift)


def _events(rng: np.random.Generator, open_us: int, close_us: int, count: int,
            lead_s: float) -> tuple[list[tuple[int, float]], list[int]]:
    """Event times, one at random in each of ``count`` equal slots, ``gap`` apart at least."""
    if count == 0:
        return [], []
    lo, hi = open_us + _EDGE_US, close_us - _EDGE_US
    gap = round((lead_s + _RAMPS_S[1] + 60) * _US)
    slot = (hi - lo) // count
    if slot <= gap:
        raise ValueError(f"{count} events do not fit the session {lead_s}s apart plus moves")
    starts = [lo + i * slot + int(rng.integers(0, slot - gap)) for i in range(count)]
    signs = rng.choice([-1.0, 1.0], count)
    sizes = rng.uniform(0.003, 0.008, count)
    ramps = rng.uniform(*_RAMPS_S, count)
    drift = [(at, round(float(s * z), 6)) for at, s, z in zip(starts, signs, sizes, strict=True)]
    return drift, [round(r * _US) for r in ramps]


def _quotes(rng: np.random.Generator, path: list[tuple[int, float]], step_us: int,
            underlying: str, expiry: str, expiry_close_us: int, every_s: float, each_side: int,
            strike_step: float, vol: float, close_us: int) -> list[OptionQuoteTick]:
    open_us = path[0][0]
    stamps = range(open_us, close_us, max(1, round(every_s * _US)))
    width = 2 * each_side + 1
    sizes = rng.integers(1, 200, (len(stamps), width, 4)).tolist()
    stock_sizes = rng.integers(100, 2000, (len(stamps), 2)).tolist()
    expiry_date = datetime.fromisoformat(expiry).date()
    symbols: dict[tuple[str, float], str] = {}
    out: list[OptionQuoteTick] = []
    for n, ts in enumerate(stamps):
        spot = path[min((ts - open_us) // step_us, len(path) - 1)][1]
        bid = math.floor(spot * 100) / 100
        out.append(OptionQuoteTick(underlying, underlying, ts, bid, round(bid + 0.01, 2),
                                   stock_sizes[n][0], stock_sizes[n][1], None, None, None,
                                   None, None))
        t = max(expiry_close_us - ts, 0) / US_PER_YEAR
        atm = round(spot / strike_step)
        for i in range(width):
            strike = round((atm + i - each_side) * strike_step, 3)
            if strike <= 0:
                continue
            iv = implied_vol_skew(spot, strike, vol)
            for j, kind in enumerate(("call", "put")):
                price, delta = bs_price_delta(spot, strike, t, iv, RATE, kind)
                otm_steps = max(0.0, (strike - spot if j == 0 else spot - strike) / strike_step)
                bid, ask = _two_sided(price, otm_steps)
                key = (kind, strike)
                if key not in symbols:
                    symbols[key] = occ_symbol(underlying, expiry_date, kind, strike)
                s = sizes[n][i]
                out.append(OptionQuoteTick(symbols[key], underlying, ts, bid, ask, s[2 * j],
                                           s[2 * j + 1], kind, strike, expiry, round(iv, 4),
                                           round(delta, 4)))
    return out


def _two_sided(price: float, otm_steps: float) -> tuple[float, float]:
    """Bid and ask in cents around ``price`` (bid <= price <= ask): a cent plus 1% of the
    price, a little more the farther out of the money, so that cheap far OTM contracts
    are the widest relative to their mid (0.00 x 0.01 at worst); bid >= 0, ask >= 0.01."""
    half = 0.005 + 0.005 * price + 0.0005 * otm_steps
    bid = max(0.0, round(price - half, 2))
    return bid, round(max(price + half, bid + 0.01), 2)


def _posts(rng: random.Random, path: list[tuple[int, float]], step_us: int, ticker: str,
           close_us: int, drift: list[tuple[int, float]], lead_s: float, per_minute: float,
           seed: int, shuffler: random.Random | None) -> list[dict[str, object]]:
    open_us = path[0][0]
    authors = sorted({f"{rng.choice(_HANDLE_A)}_{rng.choice(_HANDLE_B)}{rng.randrange(1000)}"
                      for _ in range(600)})
    followers = {a: min(int(math.exp(rng.gauss(6.0, 1.8))), 2_000_000) for a in authors}
    slots: list[tuple[int, str, int]] = []  # (ts, author, direction)
    ts = open_us
    while per_minute > 0:
        ts += max(1, round(rng.expovariate(per_minute / 60e6)))
        if ts >= close_us:
            break
        slots.append((ts, rng.choice(authors), rng.choices((0, 1, -1), (70, 15, 15))[0]))
    chatter = list(slots)
    for at, ret in drift:
        sign = 1 if ret > 0 else -1
        start = max(open_us, at - round(lead_s * _US))
        against = -sign * sum(d for ts, _, d in chatter if start <= ts < at)
        # 6 to 15 posts, more if needed so the burst outweighs the chatter of its window
        burst = rng.sample(authors, max(rng.randint(6, 15), against + 3))
        slots += [(rng.randrange(start, at) if at > start else start, author, sign)
                  for author in burst]
    slots.sort()
    texts = []
    for ts, _, direction in slots:
        strike = round(path[(ts - open_us) // step_us][1]) + rng.randint(-2, 4) * direction
        body = rng.choice(TEMPLATES[direction]).format(
            t=("$" if rng.random() < 0.8 else "") + ticker, k=strike)
        texts.append(rng.choice(OPENERS) + body + rng.choice(TAILS[direction]))
    if shuffler is not None:
        shuffler.shuffle(texts)
    posts: list[dict[str, object]] = []
    for n, ((ts, author, _), text) in enumerate(zip(slots, texts, strict=True)):
        reach = followers[author]
        likes = int(rng.paretovariate(1.5) * (1 + reach ** 0.5) / 4)
        posts.append({
            "id": f"syn-{seed}-{n}", "source": "synthetic", "author": author, "text": text,
            "created_at_us": ts, "followers": reach, "likes": likes,
            "reposts": int(likes * rng.uniform(0.0, 0.2)),
            "replies": int(likes * rng.uniform(0.0, 0.4)), "url": None, "lang": "en",
        })
    return posts


_PATTERNS = [(re.compile(re.escape(template).replace(re.escape("{t}"), r"\$?[A-Z]{1,6}")
                         .replace(re.escape("{k}"), r"\d+(?:\.\d+)?")), direction)
             for direction, templates in TEMPLATES.items() for template in templates]


def text_direction(text: str) -> int | None:
    """The direction a generated post's text was written with: 1 bullish, -1 bearish,
    0 neutral; None when the text comes from no template (ground truth for tests)."""
    for pattern, direction in _PATTERNS:
        if pattern.search(text):
            return direction
    return None


def write_posts_jsonl(posts: Iterable[dict[str, object]], path: Path) -> int:
    """Write posts as JSON Lines (UTF-8, one object a line); returns how many."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for post in posts:
            handle.write(json.dumps(post, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_posts_jsonl(path: Path) -> Iterator[dict[str, object]]:
    """Read posts from JSON Lines, skipping blank lines; ValueError on a non-object line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            post = json.loads(line)
            if not isinstance(post, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object")
            yield post
