"""Market agent: quotes into the quote table and the per-underlying chain index; each
underlying's own quotes into the ``volatility`` table (price window, jump guard, the
chain's near-the-money implied vol), with its regime published as a ``vol_regime`` metric
when it changes.

Silence moves no quote through here, so the owner's clock tick (``ticks``, in the tick's
event time) judges it too: an underlying quiet for ``RISK_HALT_AFTER_S`` in market hours
turns halted-like on the tick, and back when the tick no longer sees a halt (its next
quote does it first)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from stocktracker.agents.base import send_metric, stage_agent
from stocktracker.domain.chain_iv import NEAR_MONEY_BAND, near_money_iv
from stocktracker.domain.contracts import ChainQuote
from stocktracker.domain.fills import Touch
from stocktracker.domain.regime import Regime, RegimeCall
from stocktracker.domain.skill import is_underlying_quote
from stocktracker.domain.vol_risk import REGIME_VALUES, VolTrack

if TYPE_CHECKING:
    from stocktracker.agents.host import AgentHost

log = logging.getLogger(__name__)

QUOTE_FIELDS = ("symbol", "underlying", "bid", "ask", "bid_size", "ask_size", "option_type",
                "strike", "expiry", "iv", "delta", "open_interest", "volume", "penny", "derived",
                "event_time")


def touch_of(quote: dict[str, Any] | None) -> Touch | None:
    """A cached quote as the simulated broker reads it."""
    if not quote:
        return None
    return Touch(quote["bid"], quote["ask"], int(quote.get("bid_size") or 0),
                 int(quote.get("ask_size") or 0), int(quote["event_time"]), quote.get("penny"),
                 bool(quote.get("derived")))


class ChainIndex:
    """Which contract symbols each underlying has in the quote table.

    The quote table (changelogged) is the truth; this index only avoids scanning it and
    is rebuilt from the table's local partitions after a restart.
    """

    def __init__(self, quotes_table: Any) -> None:
        self._table = quotes_table
        self._symbols: dict[str, set[str]] = defaultdict(set)
        self._built = False

    def reset(self) -> None:
        """Forget: the table may have moved on without this process (another owner's term)."""
        self._symbols.clear()
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


def register(p: AgentHost) -> None:
    """Register the market agent; the index is shared with the execute agent."""
    table = p.tables.quotes
    p.chain_index = ChainIndex(table)
    p.quote_lookup = lambda symbol: touch_of(table.get(symbol))
    feed = p.broker.market_feed()
    if feed is not None:  # the simulated broker, after a restart
        feed.use_quotes(p.quote_lookup)

    async def handle(quote: dict[str, Any], received: int) -> None:
        symbol = quote["symbol"]
        previous = table.get(symbol)
        if previous and previous["event_time"] > quote["event_time"]:
            return  # an out-of-order older quote never overwrites a newer one
        table[symbol] = {k: quote.get(k) for k in QUOTE_FIELDS}
        p.chain_index.add(quote["underlying"], symbol)
        feed = p.broker.market_feed()  # the simulated broker fills from quotes
        if feed is not None:
            feed.on_quote(symbol, quote["bid"], quote["ask"], quote["bid_size"], quote["ask_size"],
                          quote["event_time"], quote.get("penny"), bool(quote.get("derived")))
        if is_underlying_quote(quote):
            await track_volatility(p, quote)

    async def on_tick(tick: dict[str, Any], received: int) -> None:
        await regime_on_tick(p, int(tick["event_time"]))

    stage_agent(p, p.topics.quotes, "market", "Quote", handle)
    stage_agent(p, p.topics.ticks, "regime-timer", "Tick", on_tick)


async def track_volatility(p: AgentHost, quote: dict[str, Any]) -> None:
    """One underlying quote into its ``volatility`` record (written when worth it, see
    :meth:`~domain.vol_risk.VolTrack.worth_saving`); a new regime is published.

    An unreadable stored record raises (the quote is dead-lettered with the reason, and
    the execute agent refuses that underlying's entries the same way) rather than being
    replaced by an empty one that would silently lift a jump guard.
    """
    underlying, now = quote["underlying"], int(quote["event_time"])
    rules = p.trading_rules.vol
    before = VolTrack.from_record(p.tables.volatility.get(underlying))
    after = before.observe(now, float(quote["bid"]), float(quote["ask"]), rules.jumps)
    if after.new_bucket(before):  # once per 5 s bucket, not on every tick
        after = after.with_iv(chain_iv(p, underlying, after.window.last_price or 0.0, now), now)
    call = after.call(now, p.calendar.is_open(now), rules.regime)
    if call.regime != after.regime:
        after = replace(after, regime=call.regime.value)
        await publish_regime(p, underlying, call, now)
    if after.worth_saving(before):
        p.tables.volatility[underlying] = after.to_record()


def chain_iv(p: AgentHost, underlying: str, spot: float, now: int) -> float | None:
    """The near-the-money implied vol of ``underlying``'s cached chain at ``now``."""
    if spot <= 0:
        return None
    near = [ChainQuote.from_dict(q) for q in p.chain_index.chain(underlying)
            if abs(float(q["strike"]) / spot - 1.0) <= NEAR_MONEY_BAND]
    session = p.calendar.session_at(now)
    return near_money_iv(near, spot, now, session.close_us if session else None,
                         p.trading_rules.contract.rate)


async def publish_regime(p: AgentHost, underlying: str, call: RegimeCall, now: int) -> None:
    """A regime change as a ``vol_regime`` metric (and a log line with its reason)."""
    log.info("%s volatility regime: %s", underlying, call.reason)
    await send_metric(p, underlying, "vol_regime", REGIME_VALUES[call.regime],
                      {"stage": "market", "underlying": underlying,
                       "regime": call.regime.value}, now)


async def regime_on_tick(p: AgentHost, now: int) -> None:
    """Every underlying's regime at the tick's ``now``, for what only time can change: a
    silence turning it halted-like, or the end of one (the market closed). Other changes
    are the quotes' to publish: a tick only moves a regime into or out of halted-like, so
    that a tick whose clock runs a little behind the quotes cannot flap it. Applying a
    tick twice publishes once (the record keeps the regime published)."""
    rules = p.trading_rules.vol
    market_open = p.calendar.is_open(now)
    for underlying, record in list(p.tables.volatility.items()):
        try:
            track = VolTrack.from_record(record)
        except ValueError as exc:  # the execute agent refuses its entries with this reason
            log.warning("%s: %s", underlying, exc)
            continue
        call = track.call(now, market_open, rules.regime)
        if (call.regime is Regime.HALTED) == (track.regime == Regime.HALTED.value):
            continue
        await publish_regime(p, underlying, call, now)
        p.tables.volatility[underlying] = replace(track, regime=call.regime.value).to_record()
