"""Black-Scholes and the seeded trading day whose posts lead the price."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime

import pytest

from domain.pricing import bs_delta, bs_price, implied_vol_skew, occ_symbol
from domain.synthetic import generate_day

OPEN = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
CLOSE = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)


def test_black_scholes_known_value_parity_and_expiry() -> None:
    assert bs_price(100, 100, 1.0, 0.2, 0.0, "call") == pytest.approx(7.9656, abs=1e-4)
    call = bs_price(590, 585, 0.001, 0.15, 0.04, "call")
    put = bs_price(590, 585, 0.001, 0.15, 0.04, "put")
    assert call - put == pytest.approx(590 - 585 * math.exp(-0.04 * 0.001), abs=1e-9)
    assert bs_price(590, 585, 0.0, 0.15, 0.04, "call") == 5.0
    assert bs_price(590, 585, 2e-6, 0.15, 0.04, "put") >= 0.0
    assert 0 < bs_delta(590, 590, 0.001, 0.15, 0.0, "call") < 1
    assert bs_delta(590, 600, 0.0, 0.15, 0.0, "put") == -1.0


def test_skew_and_symbols() -> None:
    assert implied_vol_skew(590, 570, 0.15) > implied_vol_skew(590, 590, 0.15)
    assert occ_symbol("SPY", date(2026, 11, 24), "call", 590) == "SPY261124C00590000"
    assert occ_symbol("SPY", date(2026, 11, 24), "put", 589.5) == "SPY261124P00589500"


def test_day_is_reproducible_and_well_formed() -> None:
    a = generate_day(OPEN, CLOSE, seed=3, quote_every_s=60)
    b = generate_day(OPEN, CLOSE, seed=3, quote_every_s=60)
    c = generate_day(OPEN, CLOSE, seed=4, quote_every_s=60)
    assert a.posts == b.posts and a.quotes == b.quotes and a.posts != c.posts
    times = [int(str(p["created_at_us"])) for p in a.posts]
    assert times == sorted(times) and a.session_open_us <= times[0] < a.session_close_us
    options = [q for q in a.quotes if q.option_type]
    assert {q.option_type for q in options} == {"call", "put"}
    assert all(0 <= q.bid <= q.ask for q in a.quotes)
    assert all(q.expiry == "2026-11-24" for q in options)
    with pytest.raises(ValueError):
        generate_day(OPEN.replace(tzinfo=None), CLOSE, seed=1)


def lead_correlation(seed: int, shuffle: bool) -> float:
    from domain.lexicon import LexiconModel

    model = LexiconModel()
    day = generate_day(OPEN, CLOSE, seed=seed, quote_every_s=600, shuffle_posts=shuffle)
    pairs = []
    for at, ret in day.drift_events:
        window = [model.score(str(p["text"])).score for p in day.posts
                  if at - day.lead_s * 1e6 <= int(str(p["created_at_us"])) < at]
        pairs.append((sum(window) / max(len(window), 1), ret))
    xs, ys = zip(*pairs, strict=True)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in pairs)
    return cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


def test_posts_lead_the_price_and_shuffled_posts_do_not() -> None:
    assert all(lead_correlation(seed, False) > 0.8 for seed in (1, 2, 3))
    shuffled = [lead_correlation(seed, True) for seed in range(1, 7)]
    assert abs(sum(shuffled) / len(shuffled)) < 0.4
