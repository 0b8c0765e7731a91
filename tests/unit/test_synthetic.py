"""The seeded trading day whose posts lead the price."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from pathlib import Path

import pytest

from stocktracker.domain.pricing import occ_symbol
from stocktracker.domain.synthetic import (
    OPENERS,
    TAILS,
    TEMPLATES,
    OptionQuoteTick,
    SyntheticDay,
    generate_day,
    read_posts_jsonl,
    text_direction,
    write_posts_jsonl,
)

OPEN = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
KEYS = {"id", "source", "author", "text", "created_at_us", "followers", "likes", "reposts",
        "replies", "url", "lang"}


@pytest.fixture(scope="module")
def day() -> SyntheticDay:
    """A full session with every default (the configuration the demo and backtests use)."""
    return generate_day(OPEN, CLOSE, seed=7)


def quick(seed: int, shuffle: bool = False, **kwargs: object) -> SyntheticDay:
    return generate_day(OPEN, CLOSE, seed=seed, quote_every_s=1800, shuffle_posts=shuffle,
                        **kwargs)  # type: ignore[arg-type]


def snapshots(day: SyntheticDay) -> dict[int, list[OptionQuoteTick]]:
    by_ts: dict[int, list[OptionQuoteTick]] = defaultdict(list)
    for quote in day.quotes:
        by_ts[quote.ts_us].append(quote)
    return by_ts


def lead_window(day: SyntheticDay, at: int) -> list[dict[str, object]]:
    start = at - day.lead_s * 1e6
    return [p for p in day.posts if start <= int(str(p["created_at_us"])) < at]


def mean_direction(posts: list[dict[str, object]]) -> float:
    directions = [text_direction(str(p["text"])) or 0 for p in posts]
    return sum(directions) / max(len(directions), 1)


def correlation(pairs: list[tuple[float, float]]) -> float:
    xs, ys = [x for x, _ in pairs], [y for _, y in pairs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in pairs)
    return cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


def test_same_seed_same_day_other_seed_other_day() -> None:
    day = generate_day(OPEN, CLOSE, seed=7, quote_every_s=120)
    assert generate_day(OPEN, CLOSE, seed=7, quote_every_s=120) == day
    other = generate_day(OPEN, CLOSE, seed=8, quote_every_s=120)
    assert other.posts != day.posts and other.path != day.path
    assert other.drift_events != day.drift_events and other.quotes != day.quotes


def test_session_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        generate_day(OPEN.replace(tzinfo=None), CLOSE, seed=1)
    with pytest.raises(ValueError):
        generate_day(OPEN, CLOSE.replace(tzinfo=None), seed=1)
    with pytest.raises(ValueError):
        generate_day(CLOSE, OPEN, seed=1)
    with pytest.raises(ValueError):
        generate_day(OPEN, CLOSE, seed=1, events=200)
    with pytest.raises(ValueError):
        generate_day(OPEN, CLOSE, seed=-1)


def test_any_timezone_gives_the_same_day() -> None:
    eastern = timezone(timedelta(hours=-5))
    a = generate_day(OPEN.astimezone(eastern), CLOSE.astimezone(eastern), seed=2,
                     quote_every_s=600)
    assert a == generate_day(OPEN, CLOSE, seed=2, quote_every_s=600)


def test_path_covers_the_session(day: SyntheticDay) -> None:
    times = [ts for ts, _ in day.path]
    assert times[0] == day.session_open_us and times[-1] == day.session_close_us
    assert all(b - a == 1_000_000 for a, b in pairwise(times))
    assert day.path[0][1] == 590.0 and all(500 < mid < 700 for _, mid in day.path)


def test_sizes_with_defaults(day: SyntheticDay) -> None:
    assert len(day.path) == 6 * 3600 + 30 * 60 + 1
    assert len(day.quotes) == (6.5 * 3600 / 5) * (1 + 2 * 21)
    assert 6 * 390 * 0.85 < len(day.posts) < 6 * 390 * 1.15 + 8 * 15
    assert len(day.drift_events) == 8


def test_posts_are_well_formed_and_ordered(day: SyntheticDay) -> None:
    times = [p["created_at_us"] for p in day.posts]
    assert all(isinstance(t, int) for t in times)
    assert times == sorted(times)
    assert day.session_open_us <= min(times) and max(times) < day.session_close_us  # type: ignore[operator]
    assert [p["id"] for p in day.posts] == [f"syn-7-{n}" for n in range(len(day.posts))]
    for post in day.posts:
        assert set(post) == KEYS
        assert post["source"] == "synthetic" and post["url"] is None and post["lang"] == "en"
        assert "SPY" in str(post["text"]) and text_direction(str(post["text"])) is not None
        for key in ("followers", "likes", "reposts", "replies"):
            assert isinstance(post[key], int) and post[key] >= 0  # type: ignore[operator]
    assert len({p["text"] for p in day.posts}) > 150
    assert len({p["author"] for p in day.posts}) > 100
    json.dumps(day.posts)


def test_background_chatter_is_mostly_neutral(day: SyntheticDay) -> None:
    leads = [(at - day.lead_s * 1e6, at) for at, _ in day.drift_events]
    background = [p for p in day.posts
                  if not any(a <= int(str(p["created_at_us"])) < b for a, b in leads)]
    directions = [text_direction(str(p["text"])) for p in background]
    assert directions.count(0) / len(directions) > 0.6
    assert directions.count(1) > 0 and directions.count(-1) > 0


def test_quotes_are_ordered_inside_the_session(day: SyntheticDay) -> None:
    times = [q.ts_us for q in day.quotes]
    assert times == sorted(times)
    assert times[0] == day.session_open_us and times[-1] < day.session_close_us
    assert all(0.0 <= q.bid <= q.ask for q in day.quotes)
    assert all(q.ask >= 0.01 and q.bid_size > 0 and q.ask_size > 0 for q in day.quotes)
    cents = [price * 100 for q in day.quotes for price in (q.bid, q.ask)]
    assert all(abs(c - round(c)) < 1e-6 for c in cents)


def test_chain_is_0dte_around_the_spot(day: SyntheticDay) -> None:
    path = dict(day.path)
    for ts, ticks in snapshots(day).items():
        stock, options = ticks[0], ticks[1:]
        assert stock.symbol == "SPY" and stock.option_type is None and stock.strike is None
        assert stock.ask - stock.bid == pytest.approx(0.01)
        assert stock.bid <= path[ts] <= stock.ask
        assert len(options) == 42
        assert {q.option_type for q in options} == {"call", "put"}
        strikes = sorted({q.strike for q in options if q.strike is not None})
        assert len(strikes) == 21 and strikes[1] - strikes[0] == 1.0
        assert strikes[0] < path[ts] < strikes[-1] and abs(strikes[10] - path[ts]) <= 0.5
        for q in options:
            assert q.expiry == "2026-11-24" and q.strike is not None and q.option_type
            assert q.symbol == occ_symbol("SPY", date(2026, 11, 24), q.option_type, q.strike)
            assert q.iv is not None and 0.1 < q.iv < 0.2 and q.delta is not None
            assert (0 <= q.delta <= 1) if q.option_type == "call" else (-1 <= q.delta <= 0)


def test_spreads_widen_out_of_the_money(day: SyntheticDay) -> None:
    def relative(q: OptionQuoteTick) -> float:
        return (q.ask - q.bid) / ((q.ask + q.bid) / 2)

    checked = 0
    for ts, ticks in snapshots(day).items():
        if ts > day.session_open_us + 5 * 3600e6:
            break
        for kind, far in (("call", -1), ("put", 0)):
            chain = sorted((q for q in ticks[1:] if q.option_type == kind),
                           key=lambda q: q.strike or 0.0)
            atm = chain[10]
            assert relative(chain[far]) > relative(atm)
            checked += 1
    assert checked > 1000


def test_skew_in_the_chain(day: SyntheticDay) -> None:
    ticks = snapshots(day)[day.session_open_us + 3600 * 1_000_000]
    puts = sorted((q for q in ticks if q.option_type == "put"), key=lambda q: q.strike or 0.0)
    ivs = [q.iv or 0.0 for q in puts]
    assert all(a > b for a, b in pairwise(ivs))


def test_events_are_inside_the_session_and_move_the_price() -> None:
    for seed in range(1, 6):
        d = quick(seed)
        path = dict(d.path)
        starts = [at for at, _ in d.drift_events]
        assert starts == sorted(starts) and len(starts) == 8
        for at, ret in d.drift_events:
            assert d.session_open_us + 1200e6 <= at <= d.session_close_us - 1200e6
            assert 0.003 <= abs(ret) <= 0.008
            start = at - (at - d.session_open_us) % 1_000_000  # the path's step at the event
            before, after = path[start], path[start + 330_000_000]  # moves last <= 300 s
            assert math.log(after / before) == pytest.approx(math.log1p(ret), abs=0.003)
            assert (after > before) == (ret > 0)


def test_posts_lead_every_event() -> None:
    pairs = []
    for seed in range(1, 9):
        d = quick(seed)
        for at, ret in d.drift_events:
            window = lead_window(d, at)
            assert len(window) >= 6 and len({p["author"] for p in window}) >= 6
            direction = mean_direction(window)
            assert direction * ret > 0, (seed, at, ret, direction)
            pairs.append((direction, ret))
    assert correlation(pairs) > 0.8


def test_shuffled_posts_carry_no_direction() -> None:
    pairs = []
    for seed in range(1, 11):
        plain, shuffled = quick(seed), quick(seed, shuffle=True)
        assert shuffled.path == plain.path and shuffled.drift_events == plain.drift_events
        for key in ("created_at_us", "author", "id", "followers"):
            assert [p[key] for p in shuffled.posts] == [p[key] for p in plain.posts]
        assert sorted(str(p["text"]) for p in shuffled.posts) == sorted(
            str(p["text"]) for p in plain.posts)
        assert shuffled.posts != plain.posts
        pairs += [(mean_direction(lead_window(shuffled, at)), ret)
                  for at, ret in shuffled.drift_events]
    assert abs(correlation(pairs)) < 0.3


def test_templates_are_recognised_and_read_right_by_the_lexicon() -> None:
    from stocktracker.domain.lexicon import LexiconModel

    model = LexiconModel()
    labels = {1: "bullish", -1: "bearish", 0: "neutral"}
    for direction, templates in TEMPLATES.items():
        for template in templates:
            for opener in OPENERS:
                for tail in TAILS[direction]:
                    text = opener + template.format(t="$SPY", k=591) + tail
                    assert text_direction(text) == direction, text
            plain = template.format(t="SPY", k=588)
            assert text_direction(plain) == direction
            assert model.score(plain).label == labels[direction], plain
    assert text_direction("the weather is nice") is None


def test_other_underlyings_and_strike_steps() -> None:
    d = generate_day(OPEN, CLOSE, seed=5, underlying="QQQ", start_price=501.3, strike_step=0.5,
                     strikes_each_side=4, quote_every_s=900, events=3, lead_s=60.0)
    options = [q for q in d.quotes if q.option_type]
    assert all(re.fullmatch(r"QQQ261124[CP]\d{8}", q.symbol) for q in options)
    assert all((q.strike or 0) * 2 == round((q.strike or 0) * 2) for q in options)
    assert len(options) == len(snapshots(d)) * 18 and len(d.drift_events) == 3
    assert all("QQQ" in str(p["text"]) for p in d.posts)
    none = generate_day(OPEN, CLOSE, seed=5, events=0, quote_every_s=900)
    assert none.drift_events == [] and none.posts
    coarse = generate_day(OPEN, CLOSE, seed=5, step_s=600, quote_every_s=600, annual_vol=0.0)
    path = dict(coarse.path)
    for at, ret in coarse.drift_events:  # a step coarser than the move still makes the move
        start = at - (at - coarse.session_open_us) % 600_000_000
        assert path[start + 1_200_000_000] / path[start] == pytest.approx(1 + ret)


def test_jsonl_round_trip(day: SyntheticDay, tmp_path: Path) -> None:
    target = tmp_path / "posts.jsonl"
    assert write_posts_jsonl(day.posts, target) == len(day.posts)
    assert list(read_posts_jsonl(target)) == day.posts
    assert "🚀" in target.read_text(encoding="utf-8")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad\.jsonl:3"):
        list(read_posts_jsonl(bad))
