"""Market agent: quotes into the quote table and the per-underlying chain index."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from agents.base import stage_agent

if TYPE_CHECKING:
    from streams.pipeline import Pipeline

QUOTE_FIELDS = ("symbol", "underlying", "bid", "ask", "option_type", "strike", "expiry",
                "delta", "event_time")


class ChainIndex:
    """Which contract symbols each underlying has in the quote table.

    The quote table (changelogged) is the truth; this index only avoids scanning it and
    is rebuilt from the table's local partitions after a restart.
    """

    def __init__(self, quotes_table: Any) -> None:
        self._table = quotes_table
        self._symbols: dict[str, set[str]] = defaultdict(set)
        self._built = False

    def add(self, underlying: str, symbol: str) -> None:
        """Remember that ``symbol`` belongs to ``underlying``'s chain."""
        self._symbols[underlying].add(symbol)

    def chain(self, underlying: str) -> list[dict[str, Any]]:
        """Every cached option quote of ``underlying``."""
        if not self._built:
            for key, quote in self._table.items():
                if quote and quote.get("underlying"):
                    self._symbols[quote["underlying"]].add(key)
            self._built = True
        out = []
        for symbol in self._symbols.get(underlying, ()):
            quote = self._table.get(symbol)
            if quote and quote.get("option_type"):
                out.append(quote)
        return out


def register(p: Pipeline) -> None:
    """Register the market agent; the index is shared with the execute agent."""
    table = p.tables.quotes
    p.chain_index = ChainIndex(table)

    async def handle(quote: dict[str, Any], received: int) -> None:
        symbol = quote["symbol"]
        previous = table.get(symbol)
        if previous and previous["event_time"] > quote["event_time"]:
            return  # an out-of-order older quote never overwrites a newer one
        table[symbol] = {k: quote[k] for k in QUOTE_FIELDS}
        p.chain_index.add(quote["underlying"], symbol)

    stage_agent(p, p.topics.quotes, "market", "Quote", handle)
