"""Signal agent: windowed sentiment crossing the rules becomes a signal.

A signal also says whether the window's LLM volatility read agreed with the measured regime
of the traded underlying (the signal's ticker) at the signal's event time, read from the
``volatility`` table: information only, it never changes whether a trade is made.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import stage_agent
from stocktracker.domain.aggregate import WindowStats
from stocktracker.domain.signals import SignalRule, evaluate
from stocktracker.domain.vol_read import agreement, regime_at
from stocktracker.streams.core.trace import stamped

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)


def register(p: AgentHost) -> None:
    """Register the signal agent."""
    sig = p.settings.signal
    rule = SignalRule(sig.bullish_threshold, sig.bearish_threshold, sig.min_confidence,
                      sig.min_posts, sig.min_authors, int(sig.cooldown_s * 1e6),
                      sig.min_engagement, sig.momentum_against)
    tradable = frozenset(sig.tickers)
    state_table = p.tables.signal_state

    def measured_regime(underlying: str, now: int) -> str | None:
        """The regime at event time ``now``; None when unknown (no record on this worker,
        or one it cannot read: the execute agent refuses that entry itself)."""
        try:
            return regime_at(p.tables.volatility.get(underlying), now, p.calendar.is_open(now),
                             p.trading_rules.vol.regime)
        except ValueError as exc:
            log.warning("%s: volatility record unreadable, regime unknown: %s", underlying, exc)
            return None

    async def handle(snap: dict[str, Any], received: int) -> None:
        ticker = snap["ticker"]
        if ticker not in tradable:
            return
        window = WindowStats(snap["mean"], snap["decayed"], snap["confidence"], snap["posts"],
                             snap["authors"], snap["engagement"])
        state = state_table[ticker]
        decision = evaluate(ticker, window, snap["window_start"], snap["event_time"],
                            state.get("last_signal_us"), rule, snap["momentum"])
        if decision is None:
            return
        state_table[ticker] = {**state, "last_signal_us": snap["event_time"],
                               "last_signal_id": decision.id}
        llm_vol, regime = snap.get("llm_vol"), measured_regime(ticker, snap["event_time"])
        signal = {
            "id": decision.id,
            "ticker": ticker,
            "direction": decision.direction,
            "strength": decision.strength,
            "confidence": decision.confidence,
            "posts": decision.posts,
            "authors": decision.authors,
            "window_start": decision.window_start,
            "reason": decision.reason,
            "momentum": decision.momentum,
            "engagement": decision.engagement,
            "llm_vol": llm_vol,
            "measured_regime": regime,
            "vol_agreement": agreement(llm_vol, regime),
            "event_time": snap["event_time"],
            "trace": stamped(snap["trace"], "signal", received),
        }
        await p.send(p.topics.signals, "Signal", ticker, signal)

    stage_agent(p, p.topics.sentiment, "signal", "Sentiment", handle)
