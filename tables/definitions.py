"""Faust tables: windowed sentiment per ticker, signal state, quotes, positions, orders.

Scoring tables are keyed so that one ticker's state lives on the partition of that ticker's
records (scoring topics are keyed by the underlying), and windows follow the records' own
timestamps (event time, set by the producers), so a replay behaves like the live run.

Trading tables (quotes, positions, risk state, orders, control) have one partition, like
the trading topics (:data:`streams.topics.ACCOUNT_TOPICS`): the worker owning it owns the
whole account, so a sum over them is the account's, and the group's other trading worker
keeps a standby replica of each, ready to take over. A worker declares only the tables of
its role: a table is subscribed (and recovered) by every worker that declares it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import faust

from streams.settings import Settings

SCORING_TABLES = ("hopping", "tumbling", "signal_state")
TRADING_TABLES = ("quotes", "positions", "risk_state", "orders", "control")


class NotInRole:
    """Stands for a table this worker's role does not declare; any use says so."""

    def __init__(self, name: str, role: str) -> None:
        self._name, self._role = name, role

    def __getattr__(self, attr: str) -> Any:
        raise RuntimeError(f"table {self._name!r} is not declared by a {self._role!r} worker")

    def __getitem__(self, key: Any) -> Any:
        return self.__getattr__("__getitem__")


@dataclass(frozen=True)
class Tables:
    """Every table of the pipeline (those of other roles are :class:`NotInRole`)."""

    hopping: faust.types.tables.WindowWrapperT
    tumbling: faust.types.tables.WindowWrapperT
    signal_state: faust.types.tables.TableT
    quotes: faust.types.tables.TableT
    positions: faust.types.tables.TableT
    risk_state: faust.types.tables.TableT
    orders: faust.types.tables.TableT
    control: faust.types.tables.TableT

    @classmethod
    def create(cls, app: faust.App, settings: Settings, role: str = "all") -> Tables:
        """Declare the tables of ``role`` on ``app`` with windows from settings."""
        sig = settings.signal
        partitions = settings.kafka.partitions
        keep = max(sig.window_s, sig.tumbling_s) * 4

        def table(name: str, default: type | None = dict, parts: int = 1) -> Any:
            return app.Table(name, default=default, partitions=parts)

        def make(name: str) -> Any:
            if name == "hopping":
                return table("sentiment-hopping", parts=partitions) \
                    .hopping(sig.window_s, sig.step_s, expires=keep).relative_to_stream()
            if name == "tumbling":
                return table("sentiment-tumbling", parts=partitions) \
                    .tumbling(sig.tumbling_s, expires=keep).relative_to_stream()
            if name == "signal_state":
                return table("signal-state", parts=partitions)
            default = None if name in ("quotes", "orders", "control") else dict
            return table(name.replace("_", "-"), default)

        wanted = {"score": SCORING_TABLES, "trade": TRADING_TABLES}.get(
            role, SCORING_TABLES + TRADING_TABLES)
        return cls(**{name: make(name) if name in wanted else cast(Any, NotInRole(name, role))
                      for name in SCORING_TABLES + TRADING_TABLES})
