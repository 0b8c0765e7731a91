"""Alerts: what the rules found, which alerts fire and resolve, and how they are told. Pure.

A rule (:mod:`domain.alert_rules`) returns :class:`Finding` s: conditions true now. An
:class:`AlertBook` turns them into changes: a finding held for its rule's hold time fires an
:class:`Alert` (one per ``rule:subject`` id at a time); an alert whose rule was evaluated and
no longer finds it resolves. A rule that could not be evaluated (no data yet) changes
nothing, so a monitor that has not heard from a component yet neither fires nor resolves
on its account. The book is rebuilt from the ``alerts`` topic on start
(:meth:`AlertBook.restore`), so a restarted monitor neither fires an alert twice nor forgets
to resolve one.

:class:`Delivery` decides what reaches the webhooks: each change once (de-duplication by id,
state and first-seen time, so a change read twice is not told twice), at most
``per_minute`` messages a minute (the rest wait their turn, oldest first, and a resolve
that catches its own firing still waiting replaces it), and the two bodies: generic JSON
and a Slack-compatible ``text``/``blocks`` message.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)
FIRING, RESOLVED, ACKNOWLEDGED = "firing", "resolved", "acknowledged"
MINUTE_US = 60_000_000


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition a rule finds true now.

    Attributes
    ----------
    rule, subject:
        The rule's name and what the finding is about (a source, a symbol, a level).
    severity:
        ``info``, ``warning`` or ``critical``.
    message:
        One line for the operator: what is wrong, with the figure.
    value, threshold:
        The figure measured and the setting it crossed (``None`` where there is none).
    """

    rule: str
    subject: str
    severity: str
    message: str
    value: float | None = None
    threshold: float | None = None

    @property
    def id(self) -> str:
        """``rule:subject``."""
        return f"{self.rule}:{self.subject}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert in one state (the ``Alert`` record's fields)."""

    id: str
    rule: str
    subject: str
    severity: str
    state: str
    message: str
    first_seen: int
    value: float | None = None
    threshold: float | None = None
    resolved: int | None = None
    actor: str | None = None
    event_time: int = 0

    @classmethod
    def fired(cls, finding: Finding, first_seen: int, now_us: int) -> Alert:
        """A finding held long enough."""
        return cls(finding.id, finding.rule, finding.subject, finding.severity, FIRING,
                   finding.message, first_seen, finding.value, finding.threshold,
                   event_time=now_us)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Alert:
        """From a decoded ``Alert`` record."""
        return cls(str(record["id"]), str(record["rule"]), str(record["subject"]),
                   str(record["severity"]), str(record["state"]), str(record["message"]),
                   int(record["first_seen"]), record.get("value"), record.get("threshold"),
                   record.get("resolved"), record.get("actor"), int(record["event_time"]))

    def to_record(self) -> dict[str, Any]:
        """The ``Alert`` record."""
        return {"id": self.id, "rule": self.rule, "subject": self.subject,
                "severity": self.severity, "state": self.state, "message": self.message,
                "value": self.value, "threshold": self.threshold, "first_seen": self.first_seen,
                "resolved": self.resolved, "actor": self.actor, "event_time": self.event_time,
                "trace": {}}

    @property
    def key(self) -> tuple[str, str, int]:
        """What makes a change the same change: id, state and first-seen time."""
        return (self.id, self.state, self.first_seen)


class AlertBook:
    """The alerts firing now, kept from findings.

    Parameters
    ----------
    hold_us:
        Per rule, how long (µs) a finding must hold before it fires (default 0: at once).
    """

    def __init__(self, hold_us: Mapping[str, int] | None = None) -> None:
        self.hold_us = dict(hold_us or {})
        self.firing: dict[str, Alert] = {}
        self._pending: dict[str, int] = {}  # id -> when first found, not yet held long enough

    def restore(self, record: Mapping[str, Any]) -> None:
        """Apply one record of the ``alerts`` topic (in the topic's order)."""
        alert = Alert.from_record(record)
        if alert.state == RESOLVED:
            self.firing.pop(alert.id, None)
        elif alert.state == FIRING:
            self.firing[alert.id] = alert
        elif alert.id in self.firing:  # acknowledged: it still fires, now with who saw it
            self.firing[alert.id] = replace(self.firing[alert.id], actor=alert.actor)

    def update(self, findings: Iterable[Finding], evaluated: Iterable[str],
               now_us: int) -> list[Alert]:
        """The alerts that fire or resolve now, given what the ``evaluated`` rules found."""
        found = {f.id: f for f in findings}
        changes: list[Alert] = []
        for fid, finding in found.items():
            if fid in self.firing:  # still firing: keep the latest figure, tell nobody
                self.firing[fid] = replace(self.firing[fid], message=finding.message,
                                           value=finding.value)
                continue
            since = self._pending.setdefault(fid, now_us)
            if now_us - since >= self.hold_us.get(finding.rule, 0):
                alert = Alert.fired(finding, since, now_us)
                self.firing[fid] = alert
                del self._pending[fid]
                changes.append(alert)
        for fid in [f for f in self._pending if f not in found]:
            del self._pending[fid]
        done = set(evaluated)
        for fid, alert in list(self.firing.items()):
            if fid not in found and alert.rule in done:
                del self.firing[fid]
                changes.append(replace(alert, state=RESOLVED, resolved=now_us, event_time=now_us))
        return changes


def acknowledged(alert: Alert, actor: str, now_us: int) -> Alert:
    """The record saying ``actor`` acknowledged ``alert`` at ``now_us``."""
    return replace(alert, state=ACKNOWLEDGED, actor=actor, event_time=now_us)


def _iso(us: int | None) -> str | None:
    return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat(
        timespec="seconds")


def headline(alert: Alert) -> str:
    """``[CRITICAL] daily_loss 80%: ...`` or ``[RESOLVED] ...``."""
    tag = "RESOLVED" if alert.state == RESOLVED else alert.severity.upper()
    return f"[{tag}] {alert.rule} {alert.subject}: {alert.message}"


def generic_body(alert: Alert, source: str) -> dict[str, Any]:
    """The generic webhook's JSON: every field, times as ISO 8601 and µs."""
    return {"source": source, "id": alert.id, "rule": alert.rule, "subject": alert.subject,
            "severity": alert.severity, "state": alert.state, "message": alert.message,
            "value": alert.value, "threshold": alert.threshold,
            "first_seen": _iso(alert.first_seen), "first_seen_us": alert.first_seen,
            "resolved": _iso(alert.resolved), "resolved_us": alert.resolved,
            "text": headline(alert)}


_EMOJI = {CRITICAL: ":rotating_light:", WARNING: ":warning:", INFO: ":information_source:"}


def slack_body(alert: Alert, source: str) -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification) and one section block."""
    mark = ":white_check_mark:" if alert.state == RESOLVED else _EMOJI.get(alert.severity, "")
    lines = [f"{mark} *{headline(alert)}*", f"first seen {_iso(alert.first_seen)}"]
    if alert.resolved is not None:
        lines.append(f"resolved {_iso(alert.resolved)}")
    lines.append(f"`{alert.id}` from {source}")
    return {"text": headline(alert),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]}


class Delivery:
    """Which changes go to the webhooks, and when (rate limit, de-duplication).

    Parameters
    ----------
    per_minute:
        Messages sent in any 60 s at most; the rest wait (oldest first).
    queue:
        Changes that may wait; beyond it the oldest waiting is dropped and counted.
    """

    def __init__(self, per_minute: int, queue: int = 1000) -> None:
        self.per_minute = per_minute
        self.waiting: deque[Alert] = deque()
        self.queue = queue
        self.dropped = 0
        self.duplicates = 0
        self._sent_at: deque[int] = deque()
        self._told: set[tuple[str, str, int]] = set()

    def offer(self, alert: Alert) -> None:
        """Queue a change (acknowledgements are not told; a change told before is not again)."""
        if alert.state == ACKNOWLEDGED:
            return
        if alert.key in self._told or any(w.key == alert.key for w in self.waiting):
            self.duplicates += 1
            return
        if alert.state == RESOLVED:  # its firing still waits: neither needs telling now
            fired = (alert.id, FIRING, alert.first_seen)
            if any(w.key == fired for w in self.waiting):
                self.waiting = deque(w for w in self.waiting if w.key != fired)
                self._told |= {fired, alert.key}
                return
        self.waiting.append(alert)
        while len(self.waiting) > self.queue:
            self.waiting.popleft()
            self.dropped += 1

    def due(self, now_us: int) -> list[Alert]:
        """The changes to send now, within the rate limit (marked as told)."""
        while self._sent_at and now_us - self._sent_at[0] >= MINUTE_US:
            self._sent_at.popleft()
        out: list[Alert] = []
        while self.waiting and len(self._sent_at) < self.per_minute:
            alert = self.waiting.popleft()
            self._sent_at.append(now_us)
            self._told.add(alert.key)
            out.append(alert)
        return out
