"""Faust agents: score, aggregate, signal, market, chain, execute, orders, book, exits, control."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


def register_all(pipeline: Pipeline) -> None:
    """Register every agent on the pipeline's app."""
    from agents import aggregate, book, chain, control, execute, exits, market, orders, score, signal

    for module in (score, aggregate, signal, market, chain, execute, orders, book, exits,
                   control):
        module.register(pipeline)
