"""How much a post matters to the signal, in [0, 1]. Pure (the post's age is passed in).

A post about no ticker is worth nothing. A ticker match is worth :data:`TICKER_WEIGHT`;
engagement and author reach add up to :data:`ENGAGEMENT_WEIGHT` and :data:`REACH_WEIGHT`
on log scales; the sum then decays with the post's age, halving every
:data:`HALF_LIFE_S`. The ingest process drops posts below ``INGEST_MIN_RELEVANCE``; the
score agent asks the hosted LLMs only about posts at or above ``SENTIMENT_LLM_MIN_RELEVANCE``.
"""

from __future__ import annotations

import math

TICKER_WEIGHT = 0.2
"""What a ticker match alone is worth."""
ENGAGEMENT_WEIGHT = 0.4
"""The most engagement can add."""
REACH_WEIGHT = 0.4
"""The most author reach can add."""
ENGAGEMENT_FULL_LOG10 = 4.0
"""Engagement (likes + 2 reposts + replies) counts in full from 10**4 = 10,000."""
REACH_FULL_LOG10 = 6.0
"""Reach counts in full from 10**6 = 1,000,000 followers."""
REPOST_WEIGHT = 2
"""A repost counts as two likes or replies: it puts the post in front of new readers."""
VERIFIED_REACH_BONUS = 0.1
"""Added to a verified author's reach fraction (before the cap at 1): about the reach of
four times as many followers."""
HALF_LIFE_S = 900.0
"""Age at which a post is worth half as much: 15 minutes, for same-day options."""


def relevance(*, tickers: int, followers: int, likes: int, reposts: int, replies: int,
              age_s: float = 0.0, verified: bool = False) -> float:
    """A post's relevance in [0, 1], rounded to 4 decimals.

    Parameters
    ----------
    tickers:
        How many tickers the post is about (0 gives 0).
    followers:
        The author's followers (negative counts as 0).
    likes, reposts, replies:
        Engagement so far (negative counts as 0).
    age_s:
        Seconds since the post was made; a negative age (clock skew) counts as 0.
    verified:
        Whether the source marks the author as verified.

    Returns
    -------
    float
        ``(0.2 + 0.4 * engagement + 0.4 * reach) * 0.5 ** (age_s / 900)`` where
        engagement and reach are the log-scale fractions above, each capped at 1.
    """
    if tickers <= 0:
        return 0.0
    engagement = max(likes, 0) + REPOST_WEIGHT * max(reposts, 0) + max(replies, 0)
    eng = min(1.0, math.log10(1 + engagement) / ENGAGEMENT_FULL_LOG10) if engagement else 0.0
    reach = math.log10(1 + max(followers, 0)) / REACH_FULL_LOG10 if followers > 0 else 0.0
    if verified:
        reach += VERIFIED_REACH_BONUS
    reach = min(1.0, reach)
    score = TICKER_WEIGHT + ENGAGEMENT_WEIGHT * eng + REACH_WEIGHT * reach
    if age_s > 0:
        score *= 0.5 ** (age_s / HALF_LIFE_S)
    return round(score, 4)
