"""Faust tables: windowed sentiment per ticker, signal state, quotes, positions, orders.

Tables are keyed so that one ticker's state lives on the partition of that ticker's records
(every topic is keyed by the underlying), and windows follow the records' own timestamps
(event time, set by the producers), so a replay behaves like the live run.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

from streams.settings import Settings


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

    @classmethod
    def create(cls, app: faust.App, settings: Settings) -> Tables:
        """Declare the tables on ``app`` with windows from settings."""
        sig = settings.signal
        partitions = settings.kafka.partitions
        keep = max(sig.window_s, sig.tumbling_s) * 4

        def table(name: str, default: type | None = dict) -> faust.types.tables.TableT:
            return app.Table(name, default=default, partitions=partitions)

        return cls(
            hopping=table("sentiment-hopping")
            .hopping(sig.window_s, sig.step_s, expires=keep)
            .relative_to_stream(),
            tumbling=table("sentiment-tumbling")
            .tumbling(sig.tumbling_s, expires=keep)
            .relative_to_stream(),
            signal_state=table("signal-state"),
            quotes=table("quotes", default=None),
            positions=table("positions"),
            risk_state=table("risk-state"),
            orders=table("orders", default=None),
            control=table("control", default=None),
        )
