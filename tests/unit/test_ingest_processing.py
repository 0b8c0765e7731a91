"""The pure chain a post goes through before Kafka: each way out, the counters, relevance."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from stocktracker.domain.dedup import Deduplicator
from stocktracker.domain.ingest import REASONS, Outcome, Processor
from stocktracker.domain.relevance import HALF_LIFE_S, relevance

KNOWN = frozenset({"SPY", "QQQ", "NVDA", "TSLA", "ALL", "IT"})
NOW_US = 1_764_000_000_000_000


@dataclass(frozen=True, slots=True)
class Post:
    """Shaped like ``connectors.base.RawPost`` (the fields the processor reads)."""

    text: str
    id: str = "x:1"
    created_us: int = NOW_US
    followers: int = 1000
    likes: int = 10
    reposts: int = 2
    replies: int = 3
    verified: bool = False
    lang: str = ""
    tickers: tuple[str, ...] = ()


def test_a_raw_post_from_a_connector_fits() -> None:
    from stocktracker.connectors.base import RawPost

    raw = RawPost(id="x:9", source="x", author="a", text="Loading $SPY calls &amp; more 🚀",
                  created_us=NOW_US, received_us=NOW_US, followers=50_000, likes=20)
    outcome = Processor(KNOWN).process(raw, NOW_US)
    assert outcome.kept
    assert (outcome.text, outcome.tickers) == ("Loading $SPY calls & more 🚀", ("SPY",))


def test_a_kept_post_carries_text_tickers_and_relevance() -> None:
    outcome = Processor(KNOWN).process(
        Post("Nvidia earnings tonight, buying $TSLA too https://t.co/xyz 🚀"), NOW_US)
    assert outcome == Outcome("kept", "Nvidia earnings tonight, buying $TSLA too 🚀",
                              ("NVDA", "TSLA"), outcome.relevance, "", "en")
    assert 0.2 < outcome.relevance <= 1.0


@pytest.mark.parametrize(("post", "reason"), [
    (Post("   "), "empty"),
    (Post("https://t.co/abc \u200b"), "empty"),
    (Post("El mercado está subiendo hoy y voy a comprar más acciones de $SPY"), "language"),
    (Post("Рынок сегодня растет, я покупаю $SPY"), "language"),
    (Post("Good morning traders, coffee first ☕"), "no_ticker"),
    (Post("I think it is ALL good, IT is fine"), "no_ticker"),
    (Post("$SPY calls", created_us=NOW_US - 4 * int(HALF_LIFE_S * 1e6), followers=0, likes=0,
          reposts=0, replies=0), "low_relevance"),
])
def test_each_way_out(post: Post, reason: str) -> None:
    processor = Processor(KNOWN)
    outcome = processor.process(post, NOW_US)
    assert outcome.reason == reason and not outcome.kept
    assert processor.counters()[reason] == 1
    assert sum(processor.counters().values()) == 1


def test_duplicates_and_near_duplicates_point_at_the_kept_post() -> None:
    processor = Processor(KNOWN)
    text = "Loading up on $NVDA calls before earnings, the chart looks strong"
    assert processor.process(Post(text, id="x:1"), NOW_US).kept
    again = processor.process(Post(text + " https://t.co/other", id="x:2"), NOW_US + 1)
    near = processor.process(Post(text + " 🚀🚀 lfg", id="x:3"), NOW_US + 2)
    assert (again.reason, again.duplicate_of) == ("duplicate", "x:1")
    assert (near.reason, near.duplicate_of) == ("near_duplicate", "x:1")
    assert near.tickers == ("NVDA",)


def test_counters_cover_every_reason() -> None:
    processor = Processor(KNOWN)
    posts = [Post("$SPY breaking out 🚀"), Post("$SPY breaking out 🚀"), Post(""),
             Post("no tickers here at all"), Post("Der Markt steigt heute und ich kaufe $SPY"),
             Post("$QQQ and Nvidia both green today")]
    for n, post in enumerate(posts):
        processor.process(post, NOW_US + n)
    counts = processor.counters()
    assert set(counts) == set(REASONS)
    assert counts == {"kept": 2, "empty": 1, "language": 1, "no_ticker": 1,
                      "low_relevance": 0, "duplicate": 1, "near_duplicate": 0}
    counts["kept"] = 99  # a copy
    assert processor.counters()["kept"] == 2


def test_a_source_saying_english_is_believed() -> None:
    text = "Der Markt steigt heute und ich kaufe $SPY"
    assert Processor(KNOWN).process(Post(text, lang="en"), NOW_US).kept
    assert Processor(KNOWN).process(Post(text, lang="de"), NOW_US).reason == "language"


def test_every_language_can_be_kept() -> None:
    processor = Processor(KNOWN, languages=None)
    assert processor.process(Post("今天$SPY大涨，我又买入了一些看涨期权"), NOW_US).kept


def test_tickers_tagged_by_the_source_are_added() -> None:
    outcome = Processor(KNOWN).process(Post("earnings tonight", tickers=("nvda",)), NOW_US)
    assert outcome.kept and outcome.tickers == ("NVDA",)


def test_company_names_can_be_switched_off() -> None:
    processor = Processor(KNOWN, names=False)
    assert processor.process(Post("Nvidia earnings tonight"), NOW_US).reason == "no_ticker"


def test_relevance_orders_posts_by_reach_engagement_and_age() -> None:
    processor = Processor(KNOWN, min_relevance=0.0)

    def score(n: int, **fields: int) -> float:
        post = Post(f"$SPY post number {n} about the open", id=f"x:{n}", **fields)
        return processor.process(post, NOW_US).relevance

    small = score(1, followers=10, likes=0, reposts=0, replies=0)
    popular = score(2, followers=10, likes=500, reposts=100, replies=50)
    famous = score(3, followers=2_000_000, likes=0, reposts=0, replies=0)
    stale = score(4, followers=2_000_000, likes=0, reposts=0, replies=0,
                  created_us=NOW_US - 3_600_000_000)
    assert small < popular and small < famous
    assert stale < famous
    assert famous == pytest.approx(0.6)


def test_relevance_of_a_fresh_post_by_hand() -> None:
    # 0.2 + 0.4 * log10(1 + 10 + 2*2 + 3) / 4 + 0.4 * log10(1 + 1000) / 6
    want = 0.2 + 0.4 * math.log10(18) / 4 + 0.4 * math.log10(1001) / 6
    assert relevance(followers=1000, likes=10, reposts=2, replies=3, tickers=1) == round(want, 4)
    assert relevance(followers=10**7, likes=10**6, reposts=0, replies=0, tickers=1) == 1.0
    assert relevance(followers=10, likes=0, reposts=0, replies=0, tickers=0) == 0.0


def test_relevance_decays_and_rewards_verified_authors() -> None:
    fields = {"followers": 10_000, "likes": 100, "reposts": 10, "replies": 5, "tickers": 1}
    fresh = relevance(**fields)
    assert relevance(**fields, age_s=HALF_LIFE_S) == pytest.approx(fresh / 2, abs=1e-4)
    assert relevance(**fields, age_s=-30.0) == fresh  # clock skew: counts as fresh
    assert relevance(**fields, verified=True) > fresh
    assert relevance(**{**fields, "followers": 10**9, "likes": 10**9}, verified=True) == 1.0
    assert relevance(**{**fields, "tickers": 0}, verified=True) == 0.0


def test_the_processor_uses_the_given_dedup_window() -> None:
    processor = Processor(KNOWN, dedup=Deduplicator(window_s=60.0))
    post = Post("$SPY breaking out of the range 🚀")
    assert processor.process(post, NOW_US).kept
    assert processor.process(post, NOW_US + 30_000_000).reason == "duplicate"
    assert processor.process(post, NOW_US + 120_000_000).kept


def test_fields_can_be_given_one_by_one() -> None:
    outcome = Processor(KNOWN).process_fields(text="$TSLA deliveries beat", now_us=NOW_US,
                                              followers=100)
    assert outcome.kept and outcome.tickers == ("TSLA",)
