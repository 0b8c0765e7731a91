"""A seeded market day of several underlyings, each with its own path, chain and posts.

Composed from one :func:`domain.synthetic.generate_day` per underlying. The first
underlying is generated with the day's seed itself, so a one-underlying market day is
bit-for-bit the :func:`generate_day` day of that seed; each later one with a seed derived
from the day's seed and its ticker (its post ids, ``syn-<derived seed>-<n>``, differ).
An underlying with ``expiry="weekly"`` lists only the week's Friday expiry (the session's
own day when it is a Friday), as a single stock's weekly chain does: on other days a 0DTE
rule finds no same-day expiry and takes the nearest later one.

On top come posts that name two of the underlyings ("$SPY and $QQQ both ripping"), at
``pair_posts_per_hour``: the scorer gives each ticker a post mentions the post's score,
so such a post carries its direction to both. A pair post is written bullish or bearish
only while both underlyings are in the lead window of an event of that sign (the answer
stays right for both); otherwise it is neutral. Quotes and posts are merged in time
order (ties: in the order of ``underlyings``). Pure: same arguments, same day.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from stocktracker.domain.synthetic import OptionQuoteTick, SyntheticDay, generate_day

PAIR_TEMPLATES: dict[int, tuple[str, ...]] = {
    1: ("{t} and {u} both ripping", "{t} and {u} breaking out together, loading calls",
        "calls on {t} and {u}, bulls in control", "{t} and {u} soaring, very bullish"),
    -1: ("{t} and {u} both tanking", "{t} and {u} breaking down together, loading puts",
         "puts on {t} and {u}, bears in control", "{t} and {u} plunging, very bearish"),
    0: ("watching {t} and {u} today", "{t} and {u} flat so far", "{t} vs {u}, which one today?",
        "{t} and {u} chopping around"),
}
_PAIR_PATTERNS = [(re.compile(re.escape(t).replace(re.escape("{t}"), r"\$[A-Z]{1,6}")
                              .replace(re.escape("{u}"), r"\$[A-Z]{1,6}")), d)
                  for d, ts in PAIR_TEMPLATES.items() for t in ts]
_NY = ZoneInfo("America/New_York")
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class UnderlyingSpec:
    """One underlying of a market day.

    Attributes
    ----------
    ticker, start_price, annual_vol:
        Its symbol, opening price and volatility.
    strike_step:
        Distance between listed strikes.
    expiry:
        ``"daily"`` (0DTE every session, as SPY/QQQ/IWM) or ``"weekly"`` (the week's Friday).
    """

    ticker: str
    start_price: float
    annual_vol: float = 0.15
    strike_step: float = 1.0
    expiry: str = "daily"

    def __post_init__(self) -> None:
        if self.expiry not in ("daily", "weekly"):
            raise ValueError(f"expiry must be 'daily' or 'weekly', got {self.expiry!r}")
        if not re.fullmatch(r"[A-Z]{1,6}", self.ticker):
            raise ValueError(f"ticker must be 1-6 capital letters, got {self.ticker!r}")


DEFAULT_UNDERLYINGS = (UnderlyingSpec("SPY", 590.0), UnderlyingSpec("QQQ", 510.0, 0.19),
                       UnderlyingSpec("IWM", 235.0, 0.21),
                       UnderlyingSpec("AAPL", 230.0, 0.24, 2.5, "weekly"))
"""The index ETFs with daily expiries and one single stock with a weekly chain."""


@dataclass(frozen=True, slots=True)
class MarketDay:
    """Several underlyings' generated days, merged.

    Attributes
    ----------
    seed:
        The day's seed.
    days:
        Each underlying's :class:`SyntheticDay`, in the order asked for.
    quotes, posts:
        Every underlying's quotes, and every post (pair posts included), in time order.
    pair_posts:
        The posts naming two underlyings (also in ``posts``).
    """

    seed: int
    days: tuple[SyntheticDay, ...]
    quotes: list[OptionQuoteTick]
    posts: list[dict[str, object]]
    pair_posts: list[dict[str, object]]

    def day(self, ticker: str) -> SyntheticDay:
        """The generated day of ``ticker`` (KeyError: not in this market day)."""
        for one in self.days:
            if one.underlying == ticker:
                return one
        raise KeyError(ticker)


def derived_seed(seed: int, ticker: str) -> int:
    """The seed of a later underlying: stable across runs and Python versions."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{ticker}".encode()).digest()[:4], "big")


def weekly_expiry(day: date) -> date:
    """The Friday of ``day``'s week (``day`` itself on a Friday; Saturday and Sunday: the next)."""
    return day + timedelta(days=(4 - day.weekday()) % 7)


def generate_market_day(session_open: datetime, session_close: datetime, *, seed: int,
                        underlyings: Sequence[UnderlyingSpec] = DEFAULT_UNDERLYINGS[:2],
                        pair_posts_per_hour: float = 6.0, **day_args: object) -> MarketDay:
    """Generate several underlyings' day (see the module docstring).

    ``day_args`` go to every :func:`generate_day` call (``quote_every_s``, ``events``, ...).
    Raises ValueError on no underlyings, a ticker named twice, a negative pair post rate,
    and whatever :func:`generate_day` refuses.
    """
    tickers = [u.ticker for u in underlyings]
    if not tickers or len(set(tickers)) != len(tickers):
        raise ValueError(f"underlyings must be distinct and at least one, got {tickers}")
    if not pair_posts_per_hour >= 0:  # also refuses NaN
        raise ValueError(f"pair_posts_per_hour must be >= 0, got {pair_posts_per_hour}")
    session_day = session_open.astimezone(_NY).date()
    days = tuple(generate_day(
        session_open, session_close, seed=seed if n == 0 else derived_seed(seed, u.ticker),
        underlying=u.ticker, start_price=u.start_price, annual_vol=u.annual_vol,
        strike_step=u.strike_step,
        expiry=weekly_expiry(session_day) if u.expiry == "weekly" else None,
        **day_args)  # type: ignore[arg-type]
        for n, u in enumerate(underlyings))
    pairs = _pair_posts(random.Random(f"{seed}:pairs"), days, pair_posts_per_hour, seed)
    order = {t: n for n, t in enumerate(tickers)}
    quotes = sorted((q for d in days for q in d.quotes),
                    key=lambda q: (q.ts_us, order[q.underlying]))
    posts = sorted([p for d in days for p in d.posts] + pairs,
                   key=lambda p: int(str(p["created_at_us"])))
    return MarketDay(seed, days, quotes, posts, pairs)


def _lead_sign(day: SyntheticDay, ts: int) -> int:
    """The sign of the event whose lead window holds ``ts`` (0: none)."""
    for at, ret in day.drift_events:
        if at - day.lead_s * _US <= ts < at:
            return 1 if ret > 0 else -1
    return 0


def _pair_posts(rng: random.Random, days: tuple[SyntheticDay, ...], per_hour: float,
                seed: int) -> list[dict[str, object]]:
    if len(days) < 2 or per_hour == 0:
        return []
    first = days[0]
    out: list[dict[str, object]] = []
    ts = first.session_open_us
    while True:
        ts += max(1, round(rng.expovariate(per_hour / 3600e6)))
        if ts >= first.session_close_us:
            return out
        a, b = rng.sample(days, 2)
        sign_a, sign_b = _lead_sign(a, ts), _lead_sign(b, ts)
        direction = sign_a if sign_a == sign_b else 0
        text = rng.choice(PAIR_TEMPLATES[direction]).format(t=f"${a.underlying}",
                                                            u=f"${b.underlying}")
        out.append({"id": f"syn-{seed}-pair-{len(out)}", "source": "synthetic",
                    "author": f"pair_{rng.randrange(10_000)}", "text": text,
                    "created_at_us": ts, "followers": rng.randrange(50, 20_000),
                    "likes": rng.randrange(0, 40), "reposts": rng.randrange(0, 5),
                    "replies": rng.randrange(0, 8), "url": None, "lang": "en"})


def pair_direction(text: str) -> int | None:
    """The direction a generated pair post was written with (None: not a pair post)."""
    for pattern, direction in _PAIR_PATTERNS:
        if pattern.search(text):
            return direction
    return None
