"""Faust agents: score, aggregate, signal, market (quotes), execute, orders, book."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


def register_all(pipeline: Pipeline) -> None:
    """Register every agent on the pipeline's app."""
    from agents import aggregate, book, execute, market, orders, score, signal

    for module in (score, aggregate, signal, market, execute, orders, book):
        module.register(pipeline)
