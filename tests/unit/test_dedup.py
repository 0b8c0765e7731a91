"""Duplicates and near-duplicates in a rolling window, with bounded memory."""

from __future__ import annotations

import random
import tracemalloc

import pytest

from stocktracker.domain.dedup import DUPLICATE, NEAR_DUPLICATE, NEW, Deduplicator

POST = ("Loading up on $NVDA calls before earnings tomorrow, the chart looks strong and "
        "guidance should be huge")


def fresh(**kwargs: float) -> Deduplicator:
    return Deduplicator(**{"window_s": 600.0, "max_posts": 1000, "threshold": 0.7, **kwargs})


def test_a_first_post_is_new() -> None:
    assert fresh().check(POST, 0.0, "x:1").kind == NEW


def test_an_exact_repeat_is_a_duplicate_of_the_first() -> None:
    dedup = fresh()
    dedup.check(POST, 0.0, "x:1")
    verdict = dedup.check(POST, 5.0, "x:2")
    assert (verdict.kind, verdict.of, verdict.similarity) == (DUPLICATE, "x:1", 1.0)


def test_case_and_whitespace_do_not_make_a_new_post() -> None:
    dedup = fresh()
    dedup.check(POST, 0.0, "x:1")
    assert dedup.check("  " + POST.upper().replace(" ", "\n  "), 1.0, "x:2").kind == DUPLICATE


@pytest.mark.parametrize("variant", [
    POST + " 🚀🚀🚀",  # emoji added
    POST + " https://t.co/AbCdEf",  # a link added
    POST.replace("huge", "huge!!!"),  # punctuation
    POST.replace("strong", "really strong"),  # a word added
    POST.replace("tomorrow", "tonight"),  # a word changed
])
def test_small_edits_are_near_duplicates(variant: str) -> None:
    dedup = fresh()
    dedup.check(POST, 0.0, "x:1")
    verdict = dedup.check(variant, 1.0, "x:2")
    assert (verdict.kind, verdict.of) == (NEAR_DUPLICATE, "x:1")
    assert 0.7 <= verdict.similarity <= 1.0


def test_another_link_is_a_near_duplicate_of_raw_text() -> None:
    dedup = fresh()
    dedup.check("Huge $SPY breakout https://t.co/aaaa1111 watch the levels", 0.0, "x:1")
    verdict = dedup.check("Huge $SPY breakout https://t.co/bbbb2222 watch the levels", 1.0, "x:2")
    assert (verdict.kind, verdict.of, verdict.similarity) == (NEAR_DUPLICATE, "x:1", 1.0)


def test_spam_variants_all_point_at_the_first() -> None:
    dedup = fresh()
    base = "FREE options signals join my discord now $SPY $QQQ 100% win rate"
    assert dedup.check(base, 0.0, "x:1").kind == NEW
    for n, tail in enumerate(["🔥", "🔥🔥 dm me", "!!!", "💰💰"]):
        verdict = dedup.check(f"{base} {tail}", 1.0 + n, f"x:{n + 2}")
        assert (verdict.kind, verdict.of) == (NEAR_DUPLICATE, "x:1")


def test_a_repost_of_a_variant_is_found_through_the_variant() -> None:
    dedup = fresh()
    words = POST.split()
    dedup.check(POST, 0.0, "x:1")
    first_edit = " ".join([*words[:-3], "guidance", "looks", "fine"])
    assert dedup.check(first_edit, 1.0, "x:2").of == "x:1"
    second_edit = " ".join([*words[:-6], "and", "guidance", "looks", "fine", "really"])
    verdict = dedup.check(second_edit, 2.0, "x:3")
    assert (verdict.kind, verdict.of) == (NEAR_DUPLICATE, "x:1")


@pytest.mark.parametrize(("first", "second"), [
    ("Loading up on $SPY calls", "Loading up on $SPY puts"),
    ("$TSLA deliveries beat, stock up 5% premarket", "$AAPL iPhone sales miss, stock down 3%"),
    ("Bought $NVDA calls this morning", "Sold my $NVDA calls this afternoon for a loss"),
    (POST, "Loading up on $NVDA puts after earnings, the chart looks weak and guidance "
           "will disappoint everyone"),
])
def test_different_posts_are_not_merged(first: str, second: str) -> None:
    dedup = fresh()
    dedup.check(first, 0.0, "x:1")
    assert dedup.check(second, 1.0, "x:2").kind == NEW


def test_posts_without_words_are_compared_exactly_only() -> None:
    dedup = fresh()
    assert dedup.check("🚀🚀🚀", 0.0, "x:1").kind == NEW
    assert dedup.check("🚀🚀🚀", 1.0, "x:2").kind == DUPLICATE
    assert dedup.check("🚀🚀", 2.0, "x:3").kind == NEW


def test_a_post_is_forgotten_after_the_window() -> None:
    dedup = fresh(window_s=60.0)
    dedup.check(POST, 0.0, "x:1")
    assert dedup.check(POST, 59.0, "x:2").kind == DUPLICATE
    assert dedup.check(POST, 61.0, "x:3").kind == NEW
    assert len(dedup) == 1


def test_a_remembered_variant_keeps_a_spam_wave_in_view() -> None:
    dedup = fresh(window_s=60.0)
    dedup.check(POST, 0.0, "x:1")
    assert dedup.check(POST + " 🚀", 50.0, "x:2").kind == NEAR_DUPLICATE
    verdict = dedup.check(POST, 70.0, "x:3")  # x:1 is forgotten, its variant is not
    assert (verdict.kind, verdict.of) == (NEAR_DUPLICATE, "x:1")
    assert dedup.check(POST, 200.0, "x:4").kind == NEW


def test_duplicates_do_not_extend_the_window() -> None:
    dedup = fresh(window_s=60.0)
    dedup.check(POST, 0.0, "x:1")
    dedup.check(POST, 50.0, "x:2")
    assert dedup.check(POST, 70.0, "x:3").kind == NEW


def test_memory_is_capped_and_the_oldest_goes_first() -> None:
    dedup = fresh(max_posts=100, window_s=1e9)
    rng = random.Random(3)
    vocabulary = [f"w{n}" for n in range(5000)]
    texts = [" ".join(rng.choices(vocabulary, k=12)) for _ in range(2000)]
    for n, text in enumerate(texts):
        assert dedup.check(text, float(n), f"x:{n}").kind == NEW
        assert len(dedup) <= 100
    assert len(dedup) == 100
    # every index holds at most one entry per remembered post and key
    assert dedup.index_size() <= 100 * (1 + 1 + 7)
    assert dedup.check(texts[0], 2000.0, "again:0").kind == NEW  # evicted long ago
    assert dedup.check(texts[-1], 2001.0, "again:1").of == "x:1999"  # still remembered


def test_memory_stops_growing_at_the_cap() -> None:
    dedup = fresh(max_posts=500, window_s=1e9)
    rng = random.Random(5)
    vocabulary = [f"w{n}" for n in range(2000)]
    for word in vocabulary:  # warm the word memo, which is bounded separately
        dedup.check(word, 0.0, "")
    texts = [" ".join(rng.choices(vocabulary, k=15)) for _ in range(6000)]
    tracemalloc.start()
    try:
        for n, text in enumerate(texts[:1000]):
            dedup.check(text, float(n), f"x:{n}")
        at_cap, _ = tracemalloc.get_traced_memory()
        for n, text in enumerate(texts[1000:], start=1000):
            dedup.check(text, float(n), f"x:{n}")
        later, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(dedup) == 500
    assert later - at_cap < 100_000  # 5,000 more posts, the same memory (within noise)
    assert at_cap < 500 * 3_000  # and about 1.5 KiB a post


def test_word_memo_is_bounded() -> None:
    dedup = fresh(max_posts=10)
    for n in range(70_000):
        dedup.check(f"unique{n} word{n} here{n}", float(n), "")
    assert len(dedup._word_hashes) <= (1 << 16) + 3


def test_ids_default_to_sequence_numbers() -> None:
    dedup = fresh()
    dedup.check(POST, 0.0)
    assert dedup.check(POST, 1.0).of == "#1"


@pytest.mark.parametrize("kwargs", [{"window_s": 0.0}, {"max_posts": 0}, {"threshold": 0.0},
                                    {"threshold": 1.5}])
def test_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        fresh(**kwargs)
