"""Operator commands from the ``control`` topic: pause, resume, kill, flatten, close,
set_limits. Pure.

:func:`apply_command` validates a command and its params and returns the new
:class:`ControlState` with the actions the execution side must take (cancel resting
entries, flatten every position). A bad command or param raises :class:`ControlError`
naming what is wrong, and the state is left as it was (``set_limits`` is all or nothing).

- ``pause``: no new entries until ``resume`` (exits still run).
- ``resume``: clears both pause and kill.
- ``kill``: no new orders and resting entries cancelled; stays on until ``resume``;
  ``flatten=true`` closes every position too.
- ``flatten``: cancel resting entries and close every position; the switches are unchanged.
- ``close``: close one position, ``symbol=<OCC symbol>`` (its resting exits are cancelled
  first); the switches are unchanged.
- ``set_limits``: override risk limits by their settings names (``max_daily_loss=500``,
  ``entry_cutoff_et=14:30``, ``max_quote_age_s=10``); ``reset=true`` drops earlier overrides.

Every command also takes an optional ``reason`` param (kept for the audit trail only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any

from stocktracker.domain.orders import parse_occ
from stocktracker.domain.risk import RiskLimits, parse_hhmm

CANCEL_ENTRIES, FLATTEN, CLOSE = "cancel_entries", "flatten", "close"
COMMANDS = ("pause", "resume", "kill", "flatten", "close", "set_limits")

LimitValue = int | float | time | None


class ControlError(ValueError):
    """An unknown command, or a param that is unknown or out of range."""


@dataclass(frozen=True, slots=True)
class ControlState:
    """The operator's switches and limit overrides (by settings name, typed values)."""

    paused: bool = False
    killed: bool = False
    limits: Mapping[str, LimitValue] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """A JSON-friendly form for a table (times as ``HH:MM``)."""
        return {"paused": self.paused, "killed": self.killed,
                "limits": {k: _show(v) for k, v in sorted(self.limits.items())}}

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ControlState:
        """Back from :meth:`to_record` (limits validated again)."""
        limits = {name: _parse_limit(name, value) for name, value in
                  dict(record.get("limits") or {}).items()}
        return cls(bool(record.get("paused")), bool(record.get("killed")), limits)


def _show(value: LimitValue) -> object:
    return f"{value:%H:%M}" if isinstance(value, time) else value


def _number(name: str, raw: object, kind: type[int] | type[float]) -> float:
    """A finite number: NaN and Infinity are refused (``day_pnl <= -nan`` is never true,
    so a NaN limit would turn its check off without a word)."""
    if isinstance(raw, bool):
        raise ControlError(f"{name} must be a number, not {raw!r}")
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ControlError(f"{name} must be {'an integer' if kind is int else 'a number'}, "
                           f"not {raw!r}") from None
    if not math.isfinite(value):
        raise ControlError(f"{name} must be a finite number, not {raw!r}")
    if kind is int:
        if value != int(value):
            raise ControlError(f"{name} must be an integer, not {raw!r}")
        return int(value)
    return value


def _positive(kind: type[int] | type[float], ceiling: float, allow_zero: bool = False
              ) -> Callable[[str, object], LimitValue]:
    """A number in (0, ceiling] ([0, ceiling] with ``allow_zero``): above the ceiling is
    absurd for this limit, a typo rather than a choice."""
    def parse(name: str, raw: object) -> LimitValue:
        value = _number(name, raw, kind)
        if value < 0 or (value == 0 and not allow_zero):
            raise ControlError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, not {raw!r}")
        if value > ceiling:
            raise ControlError(f"{name} must be at most {ceiling:,.0f}, not {raw!r}")
        return value
    return parse


def _share(name: str, raw: object) -> LimitValue:
    value = _number(name, raw, float)
    if not 0 < value <= 1:
        raise ControlError(f"{name} must be in (0, 1], not {raw!r}")
    return value


def _clock(name: str, raw: object) -> LimitValue:
    text = str(raw).strip().lower()
    if text in ("", "none", "off"):
        return None
    try:
        return parse_hhmm(text)
    except ValueError:
        raise ControlError(f"{name} must be HH:MM (New York) or 'off', not {raw!r}") from None


# settings name -> (RiskLimits field, parser, factor from the settings unit to the field's)
LIMITS: dict[str, tuple[str, Callable[[str, object], LimitValue], int]] = {
    "max_contracts_per_order": ("max_contracts_per_order", _positive(int, 1_000), 1),
    "max_position_contracts": ("max_position_contracts", _positive(int, 10_000), 1),
    "max_total_contracts": ("max_total_contracts", _positive(int, 10_000), 1),
    "max_orders_per_minute": ("max_orders_per_minute", _positive(int, 1_000), 1),
    "entry_cutoff_minutes": ("entry_cutoff_minutes", _positive(int, 390, allow_zero=True), 1),
    "entry_cutoff_et": ("entry_cutoff_et", _clock, 1),
    "max_quote_age_s": ("max_quote_age_us", _positive(float, 3_600), 1_000_000),
    "max_post_age_s": ("max_post_age_us", _positive(float, 86_400), 1_000_000),
    "max_premium_per_position": ("max_premium_per_position", _positive(float, 10_000_000), 1),
    "max_total_premium": ("max_total_premium", _positive(float, 10_000_000), 1),
    "max_daily_loss": ("max_daily_loss", _positive(float, 10_000_000), 1),
    "limit_band": ("max_limit_band", _share, 1),
}
"""The limits ``set_limits`` may change, by their settings (``RISK_``) names, each with the
range it must fall in: finite, positive (or zero where zero means "off"), and below a
ceiling past which the value is absurd (10 million $, 10,000 contracts, an hour's quote
age, a day's post age, the 390 minutes of a session)."""


def _parse_limit(name: str, raw: object) -> LimitValue:
    if name not in LIMITS:
        raise ControlError(f"unknown limit {name!r}; known: {', '.join(sorted(LIMITS))}")
    return LIMITS[name][1](name, raw)


def _flag(name: str, raw: object) -> bool:
    text = str(raw).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no", ""):
        return False
    raise ControlError(f"{name} must be true or false, not {raw!r}")


def _only(command: str, params: Mapping[str, object], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(params) - {"reason", *allowed})
    if extra:
        takes = ", ".join(allowed) if allowed else "no params"
        raise ControlError(f"{command} takes {takes} (and reason), not {', '.join(extra)}")


def apply_command(state: ControlState, command: str, params: Mapping[str, object] | None = None
                  ) -> tuple[ControlState, tuple[str, ...]]:
    """Apply one operator command.

    Returns
    -------
    (ControlState, tuple of str)
        The new state and the actions to take (:data:`CANCEL_ENTRIES`, :data:`FLATTEN`,
        :data:`CLOSE`: the position ``params["symbol"]``).

    Raises
    ------
    ControlError
        On an unknown command or a param that is unknown or has a bad value.
    """
    params = params or {}
    name = command.strip().lower()
    if name == "pause":
        _only(name, params, ())
        return replace(state, paused=True), ()
    if name == "resume":
        _only(name, params, ())
        return replace(state, paused=False, killed=False), ()
    if name == "kill":
        _only(name, params, ("flatten",))
        flatten = _flag("flatten", params.get("flatten", "false"))
        return replace(state, killed=True), (CANCEL_ENTRIES, FLATTEN) if flatten else (CANCEL_ENTRIES,)
    if name == "flatten":
        _only(name, params, ())
        return state, (CANCEL_ENTRIES, FLATTEN)
    if name == "close":
        _only(name, params, ("symbol",))
        symbol = str(params.get("symbol", "")).strip()
        try:
            parse_occ(symbol)
        except ValueError:
            raise ControlError(f"close needs symbol=<OCC option symbol>, not {symbol!r}") from None
        return state, (CLOSE,)
    if name == "set_limits":
        return _set_limits(state, params), ()
    raise ControlError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")


def _set_limits(state: ControlState, params: Mapping[str, object]) -> ControlState:
    reset = _flag("reset", params.get("reset", "false"))
    changes = {k: v for k, v in params.items() if k not in ("reset", "reason")}
    if not changes and not reset:
        raise ControlError(f"set_limits needs at least one limit; known: {', '.join(sorted(LIMITS))}")
    parsed = {name: _parse_limit(name, raw) for name, raw in changes.items()}
    base = {} if reset else dict(state.limits)
    return replace(state, limits={**base, **parsed})


def effective_limits(base: RiskLimits, state: ControlState) -> RiskLimits:
    """The settings' limits with the operator's overrides applied."""
    if not state.limits:
        return base
    fields: dict[str, Any] = {}
    for name, value in state.limits.items():
        target, _, factor = LIMITS[name]
        fields[target] = round(value * factor) if factor != 1 and isinstance(value, float) else value
    return replace(base, **fields)


def state_params(state: ControlState) -> dict[str, str]:
    """The state as a ``Control`` record's string params (``paused``, ``killed``,
    ``limit.<name>``): what the account's owner publishes once it has applied a command."""
    record = state.to_record()
    params = {"paused": str(state.paused).lower(), "killed": str(state.killed).lower()}
    params.update({f"limit.{k}": str(v) for k, v in record["limits"].items()})
    return params


def state_from_params(params: Mapping[str, str]) -> ControlState:
    """Back from :func:`state_params` (limits validated again: raises :class:`ControlError`)."""
    limits = {k.removeprefix("limit."): v for k, v in params.items() if k.startswith("limit.")}
    return ControlState.from_record({"paused": params.get("paused") == "true",
                                     "killed": params.get("killed") == "true",
                                     "limits": limits})
