"""Aggregate agent: scores into windowed sentiment per ticker (hopping + tumbling)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import stage_agent
from stocktracker.domain.aggregate import ScoreItem, merge, stats
from stocktracker.domain.vol_read import VolRead
from stocktracker.streams.core.trace import stamped

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost


def register(p: AgentHost) -> None:
    """Register the aggregate agent."""
    hopping, tumbling = p.tables.hopping, p.tables.tumbling
    hop_window = hopping.table.window
    assert hop_window is not None
    tumble_size = p.settings.signal.tumbling_s

    async def handle(score: dict[str, Any], received: int) -> None:
        ticker = score["ticker"]
        read = VolRead.from_record(score)  # a bad read raises: the score is dead-lettered
        item = ScoreItem(score["post_id"], score["score"], score["confidence"], score["author"],
                         score["engagement"], score["event_time"],
                         revision=score.get("revision", 0), vol_read=read.expected,
                         interval_width=read.width)
        ts = score["event_time"] / 1e6
        hopping[ticker].apply(merge, item)
        tumbling[ticker].apply(merge, item)
        # The trailing hopping window (the earliest one still open) covers the full size.
        trailing = hop_window.earliest(ts)
        hop = stats(hopping[ticker][trailing])
        now_tumble = stats(tumbling[ticker].current())
        before = stats(tumbling[ticker].delta(tumble_size))
        sentiment = {
            "ticker": ticker,
            "window_start": int(trailing[0] * 1e6),
            "window_end": int(trailing[1] * 1e6),
            "mean": hop.mean,
            "decayed": hop.decayed,
            "confidence": hop.confidence,
            "posts": hop.posts,
            "authors": hop.authors,
            "engagement": hop.engagement,
            "tumbling_mean": now_tumble.mean,
            "tumbling_posts": now_tumble.posts,
            "momentum": now_tumble.mean - before.mean if before.posts else 0.0,
            "llm_vol_low": hop.vol_low,
            "llm_vol_normal": hop.vol_normal,
            "llm_vol_high": hop.vol_high,
            "llm_vol": hop.llm_vol,
            "llm_interval_width": hop.interval_width,
            "event_time": score["event_time"],
            "trace": stamped(score["trace"], "aggregate", received),
        }
        await p.send(p.topics.sentiment, "Sentiment", ticker, sentiment)

    stage_agent(p, p.topics.scores, "aggregate", "Score", handle)
