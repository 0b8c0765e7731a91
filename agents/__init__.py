"""Faust agents: score, aggregate, signal, market, chain, live quotes, execute, orders, book,
exits, control."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost


def register_all(pipeline: AgentHost) -> None:
    """Register every agent on the pipeline's app (every worker runs all of them: see
    docs/architecture.md, "Workers and ownership")."""
    from stocktracker.agents import (
        aggregate,
        book,
        chain,
        control,
        execute,
        exits,
        live_quotes,
        market,
        orders,
        owner,
        score,
        signal,
    )

    for module in (score, aggregate, signal, market, chain, live_quotes, execute, orders, book,
                   exits, control, owner):
        module.register(pipeline)
