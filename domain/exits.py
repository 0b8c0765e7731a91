"""Exit rules for an open long option position, and the entry-order timeout. Pure.

A position is closed by a sell-to-close limit order when the mark reaches the profit
target, falls to the stop loss, falls the trailing percentage below its highest mark since
entry (once that high has gained enough to arm the trail), or at the time exit on the
expiry day. The high water mark is state the caller keeps, through :func:`update_high_water`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import time

from stocktracker.domain.market_hours import Session
from stocktracker.domain.price_steps import PENNY_STEPS, PriceSteps
from stocktracker.domain.risk import ny_us

PROFIT_TARGET, STOP_LOSS, TRAILING_STOP, TIME_EXIT = (
    "profit_target", "stop_loss", "trailing_stop", "time_exit")
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ExitRule:
    """The knobs of exits.

    Attributes
    ----------
    profit_target_pct:
        Close at this gain on the entry price (0.50 = +50 %); ``None``: no target.
    stop_loss_pct:
        Close at this loss (0.30 = -30 %); ``None``: no stop.
    trailing_stop_pct:
        Close this far below the highest mark since entry; ``None``: no trail.
    trail_after_gain_pct:
        The trail arms once the high is this far above the entry (0: from the start,
        which with a trail tighter than the stop makes the trail the stop).
    time_exit_et:
        New York time to close positions expiring today; ``None``: no time exit.
    exit_minutes_before_close:
        ... or this many minutes before the session's close when that is earlier (half days).
    entry_timeout_us:
        Cancel an entry order not (fully) filled after this long, µs.
    limit_style:
        Limit of a profit-target exit: ``mid_minus_tick`` (marketable-ish) or ``bid``.
    urgent_limit_style:
        Limit of stop, trailing and time exits, and of every exit sent again (default
        ``bid``: get out).
    reprice_after_us:
        A profit target resting this long unfilled while the target still holds is
        cancelled and sent again at the urgent limit (the bid); ``None``: it rests until
        another exit fires.
    max_attempts, retry_pause_us:
        An exit the broker refused (or whose submit failed) is sent again after a pause
        that doubles from ``retry_pause_us`` (capped at 60 s), at most ``max_attempts``
        times in all; then the position is stranded: flagged, and the operator told.
    """

    profit_target_pct: float | None = 0.50
    stop_loss_pct: float | None = 0.30
    trailing_stop_pct: float | None = 0.20
    trail_after_gain_pct: float = 0.20
    time_exit_et: time | None = time(15, 10)
    exit_minutes_before_close: float = 50.0
    entry_timeout_us: int = 60_000_000
    limit_style: str = "mid_minus_tick"
    urgent_limit_style: str = "bid"
    reprice_after_us: int | None = 60_000_000
    max_attempts: int = 6
    retry_pause_us: int = 2_000_000

    def __post_init__(self) -> None:
        for style in (self.limit_style, self.urgent_limit_style):
            if style not in ("bid", "mid_minus_tick"):
                raise ValueError(f"limit style must be bid or mid_minus_tick, not {style!r}")
        if self.entry_timeout_us <= 0:
            raise ValueError("entry_timeout_us must be positive")
        if self.reprice_after_us is not None and self.reprice_after_us <= 0:
            raise ValueError("reprice_after_us must be positive (None: never)")


@dataclass(frozen=True, slots=True)
class Mark:
    """The contract's quote now; its mid is the mark. ``steps`` are its class's price
    increments (a sell limit goes on them)."""

    bid: float
    ask: float
    steps: PriceSteps = PENNY_STEPS

    @property
    def mid(self) -> float:
        """Mid price."""
        return (self.bid + self.ask) / 2

    @property
    def valid(self) -> bool:
        """A usable two-sided quote (not crossed, ask positive)."""
        return self.ask > 0 and 0 <= self.bid <= self.ask


@dataclass(frozen=True, slots=True)
class PositionState:
    """An open long option position as the exit rules see it.

    Attributes
    ----------
    symbol, qty, expiry:
        OCC symbol, contracts held, ISO expiry.
    entry_price:
        Average entry price, $ per share.
    entry_us:
        When it was opened.
    entry_client_order_id:
        The opening order's id (exit order ids derive from it).
    high_water:
        Highest mark since entry (starts at the entry price).
    """

    symbol: str
    qty: int
    entry_price: float
    entry_us: int
    expiry: str
    entry_client_order_id: str
    high_water: float

    @classmethod
    def opened(cls, symbol: str, qty: int, entry_price: float, entry_us: int, expiry: str,
               entry_client_order_id: str) -> PositionState:
        """A position just opened: the high water mark is the entry price."""
        return cls(symbol, qty, entry_price, entry_us, expiry, entry_client_order_id, entry_price)


@dataclass(frozen=True, slots=True)
class ExitDecision:
    """A sell-to-close order to send, and why."""

    reason: str
    detail: str
    symbol: str
    qty: int
    limit_price: float
    client_order_id: str


def update_high_water(state: PositionState, mark: Mark) -> PositionState:
    """The state with the high water mark raised to the mark's mid (unchanged on a bad quote)."""
    if not mark.valid or mark.mid <= state.high_water:
        return state
    return replace(state, high_water=mark.mid)


def exit_order_id(entry_client_order_id: str, reason: str, attempt: int = 0) -> str:
    """Deterministic id of the exit order: the same position and reason give the same id,
    so a replay cannot sell twice; ``attempt`` > 0 re-prices after a cancelled attempt."""
    key = f"{entry_client_order_id}:{reason}" + (f":{attempt}" if attempt else "")
    return "sx-" + hashlib.sha256(key.encode()).hexdigest()[:24]


def exit_limit_price(mark: Mark, style: str) -> float:
    """Sell limit: the bid, or the mid less a tick (never below the bid), rounded down onto
    the class's price steps (:mod:`domain.price_steps`); at least one step, so the order
    stays valid on a zero bid."""
    price = mark.bid
    if style == "mid_minus_tick":
        price = max(mark.mid - mark.steps.tick(mark.mid), mark.bid)
    return mark.steps.down(price)


def time_exit_us(session: Session, rule: ExitRule) -> int | None:
    """When positions expiring on ``session``'s day are closed (``None``: no time exit)."""
    if rule.time_exit_et is None:
        return None
    before_close = session.close_us - int(rule.exit_minutes_before_close * 60_000_000)
    return min(ny_us(session.day, rule.time_exit_et), before_close)


def _triggered(state: PositionState, mark: Mark, now_us: int, rule: ExitRule,
               session: Session) -> tuple[str, str] | None:
    """The first rule that fires (time, stop, trail, target) and its numbers."""
    exit_at = time_exit_us(session, rule)
    if exit_at is not None and state.expiry <= session.day.isoformat() and now_us >= exit_at:
        return TIME_EXIT, "time exit on the expiry day"
    if not mark.valid:
        return None
    entry, mid = state.entry_price, mark.mid
    change = mid / entry - 1 if entry > 0 else 0.0
    if rule.stop_loss_pct is not None and change <= -rule.stop_loss_pct + _EPS:
        return STOP_LOSS, f"mark {mid:.2f} is {change:+.0%} from entry {entry:.2f}"
    high = max(state.high_water, mid)
    if (rule.trailing_stop_pct is not None and high >= entry * (1 + rule.trail_after_gain_pct) - _EPS
            and mid <= high * (1 - rule.trailing_stop_pct) + _EPS):
        return TRAILING_STOP, f"mark {mid:.2f} is {mid / high - 1:+.0%} from the high {high:.2f}"
    if rule.profit_target_pct is not None and change >= rule.profit_target_pct - _EPS:
        return PROFIT_TARGET, f"mark {mid:.2f} is {change:+.0%} from entry {entry:.2f}"
    return None


def evaluate_exit(position_state: PositionState, mark: Mark, now_us: int, rule: ExitRule,
                  session: Session | None) -> ExitDecision | None:
    """The exit to send now, or ``None``.

    Parameters
    ----------
    position_state:
        The position and its high water mark (keep it with :func:`update_high_water`;
        the current mark counts towards the high here too).
    mark:
        The contract's quote now; a crossed or empty quote fires only the time exit.
    now_us:
        µs since the epoch.
    rule:
        The knobs.
    session:
        Today's session; outside it (or ``None``) nothing is sent, as nothing would trade.
    """
    if position_state.qty <= 0 or session is None or not session.contains(now_us):
        return None
    fired = _triggered(position_state, mark, now_us, rule, session)
    if fired is None:
        return None
    reason, detail = fired
    return ExitDecision(reason, detail, position_state.symbol, position_state.qty,
                        exit_limit(reason, mark, rule),
                        exit_order_id(position_state.entry_client_order_id, reason))


def exit_limit(reason: str, mark: Mark, rule: ExitRule, attempt: int = 0) -> float:
    """The sell limit of an exit: a first profit target tries inside the spread
    (``limit_style``); stops, trails, time exits and every exit sent again (``attempt``
    above 0) take the ``urgent_limit_style``."""
    style = rule.limit_style if reason == PROFIT_TARGET and attempt == 0 else rule.urgent_limit_style
    return exit_limit_price(mark, style)


def entry_timed_out(sent_us: int, now_us: int, qty: int, filled_qty: int,
                    rule: ExitRule) -> str | None:
    """Why to cancel an entry order still (partly) unfilled after the timeout, or ``None``."""
    if filled_qty >= qty:
        return None
    waited = now_us - sent_us
    if waited < rule.entry_timeout_us:
        return None
    return (f"entry unfilled after {waited / 1e6:.0f}s (timeout {rule.entry_timeout_us / 1e6:g}s): "
            f"cancel the remaining {qty - filled_qty} of {qty}")


SEND, WAIT, CANCEL, STRANDED = "send", "wait", "cancel", "stranded"
_OPEN_STATUSES = frozenset({"", "pending", "new", "partial_fill"})
_REFUSED = frozenset({"rejected", "error"})
_UNFILLED_DONE = frozenset({"canceled", "expired"}) | _REFUSED
RETRY_PAUSE_CAP_US = 60_000_000


@dataclass(frozen=True, slots=True)
class RestingExit:
    """The exit order already sent for a position: its reason, status, attempt and when it
    was sent (µs)."""

    reason: str
    status: str
    attempt: int = 0
    sent_us: int = 0


def retry_pause(attempt: int, base_us: int) -> int:
    """The pause before sending a refused exit again after ``attempt`` (0-based), µs."""
    return min(base_us * 2 ** min(attempt, 20), RETRY_PAUSE_CAP_US)


def rule_attempts_left(resting: RestingExit, max_attempts: int | None) -> int:
    """Attempts still allowed after ``resting`` (unbounded when ``max_attempts`` is None)."""
    return 1 if max_attempts is None else max_attempts - (resting.attempt + 1)


def exit_step(resting: RestingExit | None, reason: str, now_us: int = 0,
              reprice_after_us: int | None = None, max_attempts: int | None = None,
              retry_pause_us: int = 0) -> tuple[str, int]:
    """What to do with a fired exit, given the exit order the position already has.

    Returns ``(action, attempt)``: ``SEND`` (with the attempt number for
    :func:`exit_order_id`), ``WAIT`` (the resting order stands, or it filled), or
    ``CANCEL`` the resting order first. A resting profit target is cancelled when a stop,
    trail or time exit fires, since the broker holds the contracts for the resting sell and
    would refuse a second one; and when the target still holds after it has rested
    ``reprice_after_us`` (sent again at the bid: the market did not come to it). An exit
    that ended unfilled (cancelled, expired) is sent again with the next attempt number. A
    refused one (rejected, or its submit failed: ``error``) too, after a pause that doubles
    with each attempt; after ``max_attempts`` it is ``STRANDED`` (the operator must act).
    """
    if resting is None:
        return SEND, 0
    if resting.status in _REFUSED and rule_attempts_left(resting, max_attempts) <= 0:
        return STRANDED, resting.attempt
    if resting.status in _REFUSED and now_us - resting.sent_us < retry_pause(resting.attempt,
                                                                             retry_pause_us):
        return WAIT, resting.attempt
    if resting.status in _UNFILLED_DONE:
        return SEND, resting.attempt + 1
    if resting.status in _OPEN_STATUSES and resting.reason == PROFIT_TARGET:
        if reason != PROFIT_TARGET:
            return CANCEL, resting.attempt
        if reprice_after_us is not None and now_us - resting.sent_us >= reprice_after_us:
            return CANCEL, resting.attempt
    return WAIT, resting.attempt
