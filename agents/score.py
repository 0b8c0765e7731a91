"""Score agent: one post in, one score per ticker it mentions out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agents.base import stage_agent
from domain.tickers import extract_tickers
from streams.trace import now_us, stamped

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


def register(p: Pipeline) -> None:
    """Register the score agent (lexicon model for now)."""
    known = frozenset(p.settings.signal.tickers)
    model = p.lexicon

    async def handle(post: dict[str, Any], received: int) -> None:
        tickers = post["tickers"] or extract_tickers(post["text"], known)
        if not tickers:
            return
        started = now_us()
        result = model.score(post["text"])
        model_us = now_us() - started
        engagement = post["likes"] + 2 * post["reposts"] + post["replies"]
        for ticker in tickers:
            score = {
                "post_id": post["id"],
                "ticker": ticker,
                "author": post["author"],
                "source": post["source"],
                "score": result.score,
                "confidence": result.confidence,
                "label": result.label,
                "engagement": engagement,
                "models": [{"model": model.name, "score": result.score,
                            "confidence": result.confidence, "latency_us": model_us}],
                "event_time": post["event_time"],
                "trace": stamped(post["trace"], "score", received),
            }
            await p.send(p.topics.scores, "Score", ticker, score)

    stage_agent(p, p.topics.posts, "score", "Post", handle)
