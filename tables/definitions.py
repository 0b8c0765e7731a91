"""Faust tables: windowed sentiment per ticker, signal state, quotes, positions, orders.

Scoring tables are keyed so that one ticker's state lives on the partition of that ticker's
records (scoring topics are keyed by the underlying), and windows follow the records' own
timestamps (event time, set by the producers), so a replay behaves like the live run.

Trading tables (quotes, positions, risk state, orders, control, volatility: each underlying's
price window, jump guard and last regime, :class:`domain.vol_risk.VolTrack`) have one partition, like
the trading topics (:data:`streams.core.topics.ACCOUNT_TOPICS`): the worker owning it owns the
whole account, so a sum over them is the account's, and another worker keeps a standby
replica of each, ready to take over. Every worker declares every table: Faust's assignor
needs the group's members to agree on them (docs/architecture.md, "Workers and ownership").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from stocktracker.streams.core.settings import Settings


@dataclass(frozen=True)
class Tables:
    """Every table of the pipeline."""

    hopping: faust.types.tables.WindowWrapperT
    tumbling: faust.types.tables.WindowWrapperT
    signal_state: faust.types.tables.TableT
    quotes: faust.types.tables.TableT
    positions: faust.types.tables.TableT
    risk_state: faust.types.tables.TableT
    orders: faust.types.tables.TableT
    control: faust.types.tables.TableT
    volatility: faust.types.tables.TableT

    @classmethod
    def create(cls, app: faust.App, settings: Settings) -> Tables:
        """Declare the tables on ``app`` with windows from settings: the scoring ones with
        ``KAFKA_PARTITIONS``, the trading ones with one (the account's)."""
        sig = settings.signal
        partitions = settings.kafka.partitions
        keep = max(sig.window_s, sig.tumbling_s) * 4

        def table(name: str, default: type | None = dict, parts: int = 1) -> Any:
            return app.Table(name, default=default, partitions=parts)

        return cls(
            hopping=table("sentiment-hopping", parts=partitions)
            .hopping(sig.window_s, sig.step_s, expires=keep).relative_to_stream(),
            tumbling=table("sentiment-tumbling", parts=partitions)
            .tumbling(sig.tumbling_s, expires=keep).relative_to_stream(),
            signal_state=table("signal-state", parts=partitions),
            quotes=table("quotes", default=None),
            positions=table("positions"),
            risk_state=table("risk-state"),
            orders=table("orders", default=None),
            control=table("control", default=None),
            volatility=table("volatility", default=None),
        )
