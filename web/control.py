"""Operator commands from the dashboard: checked here, then written to ``control``.

The dashboard only writes ``Control`` records; the account owner's control agent applies
them and publishes the state it then holds on ``switches`` (what the dashboard shows). A
command is checked against the same rules first (:func:`domain.control.apply_command` on
the state the owner last confirmed), so a bad one gets a 400 at once instead of a dead
letter later. The record is the audit trail: who (``actor``: the operator's name
as given, their address and ``web``), when (``trace.web_out``, wall clock; ``event_time``
is the pipeline's clock so that a replayed day stays in its own time) and what
(``command`` and ``params``, with the ``reason``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, Protocol

from stocktracker.domain.control import COMMANDS, ControlError, ControlState, apply_command
from stocktracker.schemas.codec import Codec
from stocktracker.streams.core.producer import RecordProducer
from stocktracker.streams.core.trace import now_us

KEY = "operator"
CONFIRM = frozenset({"kill", "flatten", "close"})
FIELDS = frozenset({"command", "params", "reason", "operator", "confirm"})
_OPERATOR = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class BadCommand(ValueError):
    """A request the API refuses with 400 (the message says why)."""


class NotDelivered(RuntimeError):
    """The broker did not acknowledge the command in time."""


class ControlWriter(Protocol):
    """Where checked commands go."""

    def send(self, record: Mapping[str, Any]) -> None:
        """Write one Control record; raise :class:`NotDelivered` if it was not acknowledged."""
        ...


def _param(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise BadCommand(f"params.{name} must be a string, number or boolean")


def operator_of(body: Mapping[str, Any]) -> str:
    """The body's ``operator`` (default ``operator``), checked."""
    operator = body.get("operator", "operator")
    if not isinstance(operator, str) or not _OPERATOR.match(operator):
        raise BadCommand("operator must be 1-64 letters, digits or _ . @ -")
    return operator


def command_record(body: object, remote: str, state: ControlState, clock_us: int) -> dict[str, Any]:
    """Check a ``POST /api/control`` body and build its Control record.

    Raises
    ------
    BadCommand
        With a message naming what is wrong (shape, confirmation, or the command's own rules).
    """
    received = now_us()
    if not isinstance(body, dict):
        raise BadCommand("the body must be a JSON object like {\"command\": \"pause\"}")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise BadCommand(f"unknown field(s) {', '.join(unknown)}; known: {', '.join(sorted(FIELDS))}")
    command = body.get("command")
    if not isinstance(command, str) or not command.strip():
        raise BadCommand(f"command is required: {', '.join(COMMANDS)}")
    command = command.strip().lower()
    raw_params = body.get("params", {})
    if not isinstance(raw_params, dict):
        raise BadCommand("params must be an object of name -> value")
    params = {str(k): _param(str(k), v) for k, v in raw_params.items()}
    reason = body.get("reason")
    if reason is not None:
        if not isinstance(reason, str) or len(reason) > 200:
            raise BadCommand("reason must be a string of at most 200 characters")
        params["reason"] = reason
    operator = operator_of(body)
    if command in CONFIRM and body.get("confirm") is not True:
        raise BadCommand(f"{command} needs \"confirm\": true")
    try:
        apply_command(state, command, params)
    except ControlError as exc:
        raise BadCommand(str(exc)) from None
    return {"command": command, "actor": f"{operator}@{remote} via web", "params": params,
            "event_time": clock_us or received, "trace": {"web_in": received, "web_out": now_us()}}


class KafkaControlWriter:
    """Writes records to one of the run's topics (``control`` by default; the alert monitor
    and acknowledgements write ``alerts``) and waits for the broker's ack.

    ``key``: every record's key; None keys each by its ``id`` field.
    """

    def __init__(self, bootstrap: str, codec: Codec, prefix: str = "", timeout_s: float = 10.0,
                 topic: str = "control", record_name: str = "Control",
                 key: str | None = KEY) -> None:
        self.producer = RecordProducer(bootstrap, codec, prefix)
        self.timeout_s = timeout_s
        self.topic, self.record_name, self.key = topic, record_name, key
        self._lock = threading.Lock()

    def send(self, record: Mapping[str, Any]) -> None:
        """Produce and flush; raise :class:`NotDelivered` unless acknowledged in time."""
        delivered: list[bool] = []
        key = self.key if self.key is not None else str(record["id"])
        with self._lock:
            self.producer.send(self.topic, self.record_name, key, record,
                               on_delivered=lambda: delivered.append(True))
            left = self.producer.flush(self.timeout_s)
        if left or not delivered:
            raise NotDelivered(f"the broker did not acknowledge the {self.record_name} record; "
                               "it may not have been written")


class ListWriter:
    """Keeps the records it is given (tests, and a dashboard without a broker)."""

    def __init__(self) -> None:
        self.records: list[Mapping[str, Any]] = []

    def send(self, record: Mapping[str, Any]) -> None:
        """Keep it."""
        self.records.append(record)
