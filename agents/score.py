"""Score agent: one post in; per ticker it mentions, a score at the deadline and revisions.

The ensemble answers by ``SENTIMENT_DEADLINE_MS``; that score goes out as revision 0. Each
model answer that arrives later publishes the next revision of the same post's score (the
aggregator replaces the earlier one). The post's offset is acknowledged only after its
late answers were published or gave up, so a restart never loses one; the agent runs
``SENTIMENT_CONCURRENCY`` posts at a time so a slow LLM does not hold up the stream.
Every 10 s the ensemble's counters and the LLMs' usage and estimated cost go to ``metrics``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import send_metric, stage_agent
from stocktracker.domain.ration import relevance
from stocktracker.domain.sentiment import Combined
from stocktracker.domain.tickers import extract_tickers
from stocktracker.domain.vol_read import read_of
from stocktracker.streams.core.trace import now_us, stamped

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

METRICS_INTERVAL_S = 10.0


def register(p: AgentHost) -> None:
    """Register the score agent and its metrics timer."""
    known = frozenset(p.settings.signal.tickers)
    ensemble = p.ensemble

    async def emit(post: dict[str, Any], tickers: list[str], combined: Combined, revision: int,
                   received: int) -> None:
        engagement = post["likes"] + 2 * post["reposts"] + post["replies"]
        models = [{"model": a.model, "score": a.score, "confidence": a.confidence,
                   "latency_us": a.latency_us, "label": a.label, "reasoning": a.reasoning}
                  for a in combined.answers]
        vol_read = read_of(combined.answers).to_record()  # Claude's; a revision brings it late
        for ticker in tickers:
            score = {
                "post_id": post["id"],
                "ticker": ticker,
                "author": post["author"],
                "source": post["source"],
                "score": combined.score,
                "confidence": combined.confidence,
                "label": combined.label,
                "engagement": engagement,
                "models": models,
                "revision": revision,
                "disagreement": combined.disagreement,
                "vetoed": combined.vetoed,
                **vol_read,
                "event_time": post["event_time"],
                "trace": stamped(post["trace"], "score", received),
            }
            await p.send(p.topics.scores, "Score", ticker, score)

    async def handle(post: dict[str, Any], received: int) -> None:
        tickers = post["tickers"] or extract_tickers(post["text"], known)
        if not tickers:
            return
        rel = relevance(followers=post["followers"], likes=post["likes"], reposts=post["reposts"],
                        replies=post["replies"], tickers=len(tickers))
        scoring = await ensemble.score(post["text"], tuple(tickers), rel)
        await emit(post, tickers, scoring.first, 0, received)
        revision = 0
        try:
            async for combined in scoring.updates():
                revision += 1
                await emit(post, tickers, combined, revision, received)
        finally:
            scoring.cancel()

    stage_agent(p, p.topics.posts, "score", "Post", handle,
                concurrency=p.settings.sentiment.concurrency)

    @p.app.timer(METRICS_INTERVAL_S)
    async def publish_metrics() -> None:
        at = now_us()
        figures: list[tuple[str, float, dict[str, str]]] = [
            (f"ensemble_{k}", v, {}) for k, v in vars_of(ensemble.stats).items()]
        for llm in ensemble.llms:
            figures += [(f"llm_{k}", v, {"model": llm.name}) for k, v in llm.usage.as_dict().items()]
        for name, value, labels in figures:
            await send_metric(p, name, name, value,
                              {"stage": "score", "worker": p.worker_id, **labels}, at)


def vars_of(obj: Any) -> dict[str, float]:
    """A slotted dataclass's fields as numbers."""
    return {name: float(getattr(obj, name)) for name in obj.__dataclass_fields__}
