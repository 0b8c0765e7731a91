"""Forecast skill and the weight fit, against hand-computed cases and generated days where
posts lead the price (domain/skill.py, domain/fitting.py)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from stocktracker.domain.fitting import (
    Sample,
    fit,
    reweigh_record,
    reweighed,
    sample,
    simplex,
    walk_forward,
)
from stocktracker.domain.lexicon import LexiconModel
from stocktracker.domain.skill import (
    MidPath,
    RollingSkill,
    ScoredPost,
    bootstrap_spearman,
    latest_scores,
    measure,
    mid_paths,
    model_skill,
    spearman,
    wilson,
)
from stocktracker.domain.synthetic import generate_day

S = 1_000_000
T0 = 1_764_000_000 * S


def test_spearman_is_one_for_a_model_right_by_construction_and_none_when_constant() -> None:
    rng = random.Random(1)
    returns = [rng.gauss(0, 1) for _ in range(200)]
    assert spearman(returns, returns) == pytest.approx(1.0)
    assert spearman([3 * r for r in returns], [-r for r in returns]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [10, 20, 20, 30]) == pytest.approx(1.0)  # ties ranked alike
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1, 2], [1, 2]) is None
    interval = bootstrap_spearman(returns, returns, draws=200)
    assert interval is not None and interval.low == pytest.approx(1.0)


def test_a_shuffled_model_has_about_no_ic_and_an_interval_covering_zero() -> None:
    rng = random.Random(7)
    returns = [rng.gauss(0, 1) for _ in range(500)]
    shuffled = returns[:]
    rng.shuffle(shuffled)
    ic = spearman(shuffled, returns)
    interval = bootstrap_spearman(shuffled, returns, draws=300)
    assert ic is not None and abs(ic) < 0.1
    assert interval is not None and interval.covers(0.0) and interval.high - interval.low < 0.4


def test_wilson_interval_matches_the_formula() -> None:
    interval = wilson(8, 10)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert wilson(0, 0) is None


def test_hit_rate_and_calibration_by_hand() -> None:
    # (score, confidence, return): calls are |score| >= 0.3
    pairs = [(0.5, 0.9, 0.01), (0.4, 0.8, 0.02), (-0.6, 0.9, -0.01), (0.3, 0.2, -0.01),
             (0.1, 0.1, -0.02), (-0.1, 0.6, 0.01), (0.0, 0.0, 0.03), (0.2, 0.3, 0.0)]
    skill = model_skill("m", 60, pairs, threshold=0.3, draws=50)
    assert (skill.hits, skill.calls) == (3, 4) and skill.hit_rate == 0.75
    # directional (score and return not 0): confidence 0.9, 0.8, 0.9 right; 0.2, 0.1, 0.6 wrong
    by_bucket = [(b.count, b.hits) for b in skill.buckets]
    assert by_bucket == [(2, 0), (0, 0), (1, 0), (3, 3)]
    assert skill.sorting is not None and skill.sorting > 0.5  # confidence sorts the hits
    assert skill.as_dict()["calibration"][3] == {"confidence": [0.75, 1.0], "count": 3, "hit_rate": 1.0}


def test_forward_return_is_as_of_and_refuses_stale_or_missing_quotes() -> None:
    path = MidPath()
    for t, mid in [(0, 100.0), (30, 101.0), (90, 99.0), (200, 102.0)]:
        path.add(T0 + t * S, mid)
    assert path.forward_return(T0 + 10 * S, 60, 60) == pytest.approx(101 / 100 - 1)  # mid at 70 s: 101
    assert path.forward_return(T0 + 30 * S, 60, 60) == pytest.approx(99 / 101 - 1)
    assert path.forward_return(T0 + 100 * S, 60, 60) is None  # at 160 s the last quote is 70 s old
    assert path.forward_return(T0 + 150 * S, 60, 60) is None  # 210 s: after the last quote
    assert path.forward_return(T0 - 5 * S, 60, 60) is None  # nothing before the post
    path.add(T0 + 60 * S, 100.0)  # out of order: put in its place
    assert path.times == sorted(path.times) and path.as_of(T0 + 61 * S, 60 * S) == 100.0


def test_latest_revision_wins_and_bad_numbers_are_skipped() -> None:
    base = {"post_id": "p", "ticker": "SPY", "event_time": T0, "confidence": 0.5}
    lexicon = {"model": "lexicon", "score": 0.2, "confidence": 0.5}
    records = [
        {**base, "score": 0.2, "revision": 0, "models": [lexicon]},
        {**base, "score": 0.4, "revision": 1,
         "models": [lexicon, {"model": "groq", "score": 0.9, "confidence": 0.9}]},
        {**base, "post_id": "q", "score": float("nan"), "revision": 0, "models": []},
    ]
    [post] = latest_scores(records)
    assert post.answers == {"ensemble": (0.4, 0.5), "lexicon": (0.2, 0.5), "groq": (0.9, 0.9)}


def _generated(day: date, seed: int, noise_seed: int,
               chatter: float = 6.0) -> tuple[list[ScoredPost], dict[str, MidPath]]:
    """A generated session scored by the lexicon, plus a model that answers at random."""
    open_ = datetime(day.year, day.month, day.day, 14, 30, tzinfo=UTC)
    generated = generate_day(open_, open_ + timedelta(hours=6, minutes=30), seed=seed, quote_every_s=15.0,
                             posts_per_minute=chatter, strikes_each_side=1)
    lexicon, rng = LexiconModel(), random.Random(noise_seed)
    posts = []
    for p in generated.posts:
        read = lexicon.score(str(p["text"]))
        posts.append(ScoredPost(str(p["id"]), generated.underlying, int(str(p["created_at_us"])),
                                {"lexicon": (read.score, read.confidence),
                                 "groq": (rng.uniform(-1, 1), rng.uniform(0.7, 1))}))
    quotes = [{"symbol": q.symbol, "underlying": q.underlying, "bid": q.bid, "ask": q.ask,
               "option_type": q.option_type, "event_time": q.ts_us} for q in generated.quotes]
    return posts, mid_paths(quotes)


def test_on_a_generated_day_the_lexicon_has_skill_and_a_random_model_does_not() -> None:
    posts, paths = _generated(date(2026, 11, 24), seed=7, noise_seed=1)
    report = measure(posts, paths, threshold=0.25, draws=300)
    five = {s.model: s for s in report.skills if s.horizon_s == 300}
    lexicon, noise = five["lexicon"], five["groq"]
    assert lexicon.n > 300 and lexicon.ic is not None and lexicon.ic_interval is not None
    assert lexicon.ic > 0.1 and lexicon.ic_interval.low > 0, lexicon
    assert noise.ic_interval is not None and noise.ic_interval.covers(0.0), noise
    assert lexicon.hit_interval is not None and lexicon.hit_interval.low > 0.5 and lexicon.calls >= 30
    assert noise.hit_interval is not None and noise.hit_interval.covers(0.5)
    assert report.as_dict()["models"]["lexicon"]["300"]["n"] == lexicon.n


def test_fit_puts_the_weight_on_the_informative_model_and_reports_out_of_sample() -> None:
    days = [date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 25)]
    by_day = {}
    for n, day in enumerate(days):
        posts, paths = _generated(day, seed=20 + n, noise_seed=n, chatter=1.0)  # little background
        by_day[day] = sample(posts, lambda p, paths=paths: paths[p.ticker].forward_return(
            p.event_us, 300, 60))
    current = {"finbert": 0.3, "groq": 0.35, "claude": 0.35}
    result = walk_forward(by_day, current, simplex(0.1, ("finbert", "groq")), train_days=1, draws=200)
    assert [f.test for f in result.folds] == [(days[1],), (days[2],)]
    for fold in result.folds:
        assert fold.weights["finbert"] >= 0.7, fold  # the local model (the lexicon here)
        assert fold.out_ic is not None and fold.in_sample_ic is not None
        mostly_noise = by_day[fold.train[0]].ic({"finbert": 0.3, "groq": 0.7})
        assert mostly_noise is not None and fold.in_sample_ic > mostly_noise + 0.05  # noise costs
    assert result.out_ic is not None and result.current_out_ic is not None
    assert result.out_ic > result.current_out_ic  # the random model's vetoes cost the current mix
    assert result.posts == sum(len(by_day[d].posts) for d in days[1:])


def test_reweighing_reproduces_the_worker_and_the_fit_breaks_ties_to_the_first() -> None:
    post = ScoredPost("p", "SPY", T0, {"ensemble": (0.5, 0.6), "lexicon": (0.5, 0.6), "groq": (-0.8, 0.9)})
    assert reweighed(post, {"finbert": 1.0, "groq": 0.0})[0] == pytest.approx(0.5)
    assert reweighed(post, {"finbert": 0.3, "groq": 0.7})[0] == 0.0  # the LLM vetoes the lexicon
    record = {"post_id": "p", "ticker": "SPY", "event_time": T0, "score": 0.5, "confidence": 0.6,
              "label": "bullish", "models": [{"model": "lexicon", "score": 0.5, "confidence": 0.6}]}
    assert reweigh_record(record, {"finbert": 0.0, "groq": 1.0})["score"] == 0.0
    flat = Sample((post,), (0.01,))
    assert fit(flat, [{"finbert": 1.0}, {"finbert": 0.5}]) == ({"finbert": 1.0}, None)
    assert len(simplex(0.1)) == 66 and all(sum(w.values()) == pytest.approx(1) for w in simplex(0.25))


def test_rolling_skill_keeps_a_window_and_the_latest_revision() -> None:
    rolling = RollingSkill(window_s=600, threshold=0.25, horizons=(60,))
    for t in range(0, 1800, 10):
        rolling.quote({"symbol": "SPY", "underlying": "SPY", "bid": 100 + t / 100, "ask": 100.02 + t / 100,
                       "option_type": None, "event_time": T0 + t * S})
        rolling.quote({"symbol": "SPY261124C00600000", "underlying": "SPY", "bid": 1, "ask": 1.1,
                       "option_type": "call", "event_time": T0 + t * S})
    for n, t in enumerate(range(0, 1700, 20)):
        rolling.score({"post_id": f"p{n}", "ticker": "SPY", "event_time": T0 + t * S, "score": 0.5,
                       "confidence": 0.8, "revision": 0, "models": [{"model": "lexicon", "score": -0.5,
                                                                     "confidence": 0.8}]})
    rolling.score({"post_id": "p0", "ticker": "SPY", "event_time": T0, "score": 0.1, "confidence": 0.1,
                   "revision": 0, "models": []})  # a stale repeat of an old revision is kept out
    report = rolling.report(T0 + 1790 * S)
    ensemble = next(s for s in report.skills if s.model == "ensemble")
    assert report.posts < 60  # only the last 600 s (+ the horizon) are kept
    assert ensemble.hit_rate == 1.0 and ensemble.calls == ensemble.n  # the price only rose
    lexicon = next(s for s in report.skills if s.model == "lexicon")
    assert lexicon.hit_rate == 0.0
    assert min(rolling.paths["SPY"].times) >= T0 + (1790 - 660 - 60 - 10) * S
