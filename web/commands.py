"""The operator's commands as they were sent, and the trading state as the account's owner
holds it. Pure.

Two topics tell it. ``control`` holds the commands as they were sent (by this dashboard or
anyone else): each becomes an audit entry, ``pending`` until the owner answers. ``switches``
holds the owner's answers: each time it applies or refuses a command, and each time a
worker becomes the owner (``restore``), the owner publishes its whole state
(:func:`domain.control.state_params`) with what it did (``applied``, ``by``, ``accepted``,
``error``). The state shown is the latest of those, never a replay of what was sent: a
command that no worker applied changes nothing but its own entry, which stays pending.

The dashboard reads both topics side by side, so an answer may be read before its command:
it is kept (bounded) until the command comes. An answer is matched to the oldest pending
entry with the same command, actor and event time (the owner applies in topic order).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from stocktracker.domain.control import ControlState, state_from_params

PENDING, APPLIED, REFUSED = "pending", "applied", "refused"
RESTORE = "restore"
_ANSWER_PARAMS = frozenset({"applied", "by", "accepted", "error"})

Key = tuple[str, str, int]


def _ms(us: int) -> int:
    return us // 1000


def _key(command: str, actor: str | None, event_time: int) -> Key:
    return command.strip().lower(), actor or "", event_time


class CommandTrail:
    """The owner's latest state, who confirmed it and when, and the audit of commands.

    Parameters
    ----------
    history:
        Audit entries kept, and answers kept while their command has not been read.
    """

    def __init__(self, history: int) -> None:
        self.state: ControlState | None = None  # None until an owner has said which it is
        self.owner: dict[str, Any] | None = None  # the latest answer: who, when, after what
        self.audit: deque[dict[str, Any]] = deque(maxlen=history)
        self._early: deque[dict[str, Any]] = deque(maxlen=history)  # answers before their command

    def sent(self, record: Mapping[str, Any], origin_us: int) -> None:
        """A ``control`` record: a command sent, pending until the owner answers."""
        entry: dict[str, Any] = {
            "command": record["command"], "actor": record["actor"], "params": dict(record["params"]),
            "t": _ms(record["event_time"]), "at": _ms(origin_us), "status": PENDING,
            "accepted": None, "error": None, "owner": None, "confirmed_at": None,
            "_key": _key(record["command"], record["actor"], int(record["event_time"]))}
        self.audit.append(entry)
        for answer in self._early:
            if answer["_key"] == entry["_key"]:
                self._early.remove(answer)
                _settle(entry, answer)
                return

    def answered(self, record: Mapping[str, Any], origin_us: int) -> None:
        """A ``switches`` record: the owner's state after a command or on taking over.

        Raises
        ------
        domain.control.ControlError
            When the state does not validate (an invalid limit); nothing is changed then.
        """
        params = record["params"]
        state = state_from_params(params)
        applied = str(params.get("applied", "")).strip().lower()
        answer: dict[str, Any] = {
            "actor": record["actor"], "t": _ms(record["event_time"]), "at": _ms(origin_us),
            "applied": applied, "by": params.get("by"),
            "accepted": params.get("accepted", "true") == "true", "error": params.get("error") or None,
            "_key": _key(applied, params.get("by"), int(record["event_time"]))}
        self.state = state
        self.owner = {k: v for k, v in answer.items() if k != "_key"}
        if applied == RESTORE:  # a worker became the owner: a row of its own
            shown = {k: v for k, v in params.items() if k not in _ANSWER_PARAMS}
            self.audit.append({"command": RESTORE, "actor": record["actor"], "params": shown,
                               "t": answer["t"], "at": answer["at"], "status": APPLIED,
                               "accepted": True, "error": None, "owner": record["actor"],
                               "confirmed_at": answer["at"], "_key": answer["_key"]})
            return
        entry = self._match(answer)
        if entry is None:
            self._early.append(answer)
        else:
            _settle(entry, answer)

    def _match(self, answer: Mapping[str, Any]) -> dict[str, Any] | None:
        pending = [e for e in self.audit if e["status"] == PENDING]
        exact = [e for e in pending if e["_key"] == answer["_key"]]
        if exact:
            return exact[0]
        if answer["by"] is None:  # an answer that does not say whose: the latest of that command
            same = [e for e in pending if e["_key"][0] == answer["applied"]]
            return same[-1] if same else None
        return None

    def entries(self) -> list[dict[str, Any]]:
        """The audit, oldest first by when each was sent or answered (copies, safe to emit)."""
        rows = sorted(self.audit, key=lambda e: e["at"])  # two topics read side by side
        return [{k: v for k, v in e.items() if k != "_key"} for e in rows]


def _settle(entry: dict[str, Any], answer: Mapping[str, Any]) -> None:
    entry.update(status=APPLIED if answer["accepted"] else REFUSED, accepted=answer["accepted"],
                 error=answer["error"], owner=answer["actor"], confirmed_at=answer["at"])
