"""Signal rules: when a ticker's windowed sentiment is strong enough to trade."""

from __future__ import annotations

from dataclasses import dataclass

from stocktracker.domain.aggregate import WindowStats


@dataclass(frozen=True, slots=True)
class SignalRule:
    """Thresholds, confirmation and cool-down of the signal stage."""

    bullish_threshold: float = 0.25
    bearish_threshold: float = -0.25
    min_confidence: float = 0.2
    min_posts: int = 4
    min_authors: int = 3
    cooldown_us: int = 600_000_000
    min_engagement: int = 0
    momentum_against: float = 0.5


@dataclass(frozen=True, slots=True)
class SignalDecision:
    """A signal to emit."""

    id: str
    ticker: str
    direction: str
    strength: float
    confidence: float
    posts: int
    authors: int
    window_start: int
    reason: str
    momentum: float = 0.0
    engagement: int = 0


def signal_id(ticker: str, direction: str, window_start_us: int) -> str:
    """Deterministic id: a replayed or retried record yields the same id."""
    return f"{ticker}:{direction}:{window_start_us}"


def evaluate(
    ticker: str,
    window: WindowStats,
    window_start_us: int,
    event_us: int,
    last_signal_us: int | None,
    rule: SignalRule,
    momentum: float = 0.0,
) -> SignalDecision | None:
    """Return a signal when the window crosses a threshold with enough confirmation.

    The strength is the time-decayed mean; it must cross the bullish or bearish threshold,
    with average confidence, post count, distinct authors and engagement at or above the
    rule's minimums; the sentiment momentum (this tumbling window's mean minus the last
    one's) must not run against the direction by more than ``momentum_against``; and the
    ticker must be out of its cool-down (measured in event time). The reason carries the
    numbers.
    """
    if window.decayed >= rule.bullish_threshold:
        direction, threshold = "bullish", rule.bullish_threshold
    elif window.decayed <= rule.bearish_threshold:
        direction, threshold = "bearish", rule.bearish_threshold
    else:
        return None
    if window.confidence < rule.min_confidence:
        return None
    if window.posts < rule.min_posts or window.authors < rule.min_authors:
        return None
    if window.engagement < rule.min_engagement:
        return None
    if (momentum if direction == "bullish" else -momentum) < -rule.momentum_against:
        return None
    if last_signal_us is not None and event_us - last_signal_us < rule.cooldown_us:
        return None
    reason = (
        f"{direction}: decayed sentiment {window.decayed:+.2f} crossed {threshold:+.2f} "
        f"with confidence {window.confidence:.2f}, {window.posts} posts from "
        f"{window.authors} authors, engagement {window.engagement}, momentum {momentum:+.2f}"
    )
    return SignalDecision(
        id=signal_id(ticker, direction, window_start_us),
        ticker=ticker,
        direction=direction,
        strength=window.decayed,
        confidence=window.confidence,
        posts=window.posts,
        authors=window.authors,
        window_start=window_start_us,
        reason=reason,
        momentum=momentum,
        engagement=window.engagement,
    )
