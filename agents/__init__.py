"""Faust agents: score, aggregate, signal, market, chain, execute, orders, book, exits, control."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


def register_all(pipeline: Pipeline, role: str = "all") -> None:
    """Register the agents of ``role`` (``score``, ``trade`` or ``all``) on the pipeline's app."""
    from agents import (
        aggregate,
        book,
        chain,
        control,
        execute,
        exits,
        market,
        orders,
        owner,
        score,
        signal,
    )

    scoring = (score, aggregate, signal)
    trading = (market, chain, execute, orders, book, exits, control, owner)
    chosen = {"score": scoring, "trade": trading}.get(role, scoring + trading)
    for module in chosen:
        module.register(pipeline)
