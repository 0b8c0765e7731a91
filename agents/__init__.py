"""Faust agents: score, aggregate, signal, market (quotes), execute."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.pipeline import Pipeline


def register_all(pipeline: Pipeline) -> None:
    """Register every agent on the pipeline's app."""
    from agents import aggregate, execute, market, score, signal

    for module in (score, aggregate, signal, market, execute):
        module.register(pipeline)
