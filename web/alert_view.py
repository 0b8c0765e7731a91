"""What the dashboard keeps for alerts: each alert's latest state and the changes (the audit
trail of fires, resolves and acknowledgements), and the recent activity the alert monitor
measures rates on (orders sent, broker refusals, fills, post-to-order latencies, each with
the wall-clock µs it was read at). Pure.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any

from stocktracker.domain.alerts import ACKNOWLEDGED, FIRING, RESOLVED, SEVERITIES
from stocktracker.domain.positions import RECONCILE_PREFIX

ACTIVITY = 20_000  # arrivals kept per kind (an hour of orders at a busy pace)


def _ms(us: int | None) -> int | None:
    return None if us is None else us // 1000


class AlertTrail:
    """Alerts by id (latest state, who acknowledged) and every change, bounded."""

    def __init__(self, history: int) -> None:
        self.history = history
        self.alerts: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._records: dict[str, Mapping[str, Any]] = {}  # the latest fire or resolve, by id
        self.changes: deque[dict[str, Any]] = deque(maxlen=history)
        # for the monitor's book, in the topic's order (it takes them at each evaluation)
        self.records: deque[Mapping[str, Any]] = deque(maxlen=100_000)

    def apply(self, r: Mapping[str, Any]) -> dict[str, Any]:
        """Fold one ``Alert`` record; returns the alert as the page shows it."""
        self.records.append(r)
        if r["state"] != ACKNOWLEDGED:
            self._records[r["id"]] = r
        before = self.alerts.get(r["id"])
        shown = {k: r[k] for k in ("id", "rule", "subject", "severity", "state", "message",
                                   "value", "threshold")}
        shown.update(first_seen=_ms(r["first_seen"]), resolved=_ms(r["resolved"]),
                     t=_ms(r["event_time"]), acknowledged_by=None, acknowledged_at=None)
        if r["state"] == ACKNOWLEDGED:
            if before is None:  # an acknowledgement of an alert read before this view began
                before = {**shown, "state": FIRING}
            shown = {**before, "acknowledged_by": r["actor"],
                     "acknowledged_at": _ms(r["event_time"])}
        elif r["state"] == FIRING and before is not None \
                and before["first_seen"] == shown["first_seen"]:
            shown.update(acknowledged_by=before["acknowledged_by"],
                         acknowledged_at=before["acknowledged_at"])
        self.alerts[r["id"]] = shown
        self.alerts.move_to_end(r["id"])
        while len(self.alerts) > self.history:
            gone, _ = self.alerts.popitem(last=False)
            self._records.pop(gone, None)
        self.changes.append({"id": r["id"], "state": r["state"], "actor": r["actor"],
                             "severity": r["severity"], "message": r["message"],
                             "t": _ms(r["event_time"])})
        return shown

    def latest_record(self, alert_id: str) -> dict[str, Any] | None:
        """The alert's latest fire or resolve record (what an acknowledgement repeats)."""
        found = self._records.get(alert_id)
        return None if found is None else dict(found)

    def firing(self) -> list[dict[str, Any]]:
        """Alerts firing now, most severe first, then newest."""
        rows = [a for a in self.alerts.values() if a["state"] != RESOLVED]
        rank = {s: i for i, s in enumerate(SEVERITIES)}
        return sorted(rows, key=lambda a: (-rank.get(a["severity"], 0), -(a["first_seen"] or 0)))

    def summary(self) -> dict[str, Any]:
        """``GET /api/alerts``: firing (and unacknowledged), recent alerts, the audit trail."""
        firing = self.firing()
        return {"firing": firing,
                "unacknowledged": sum(1 for a in firing if not a["acknowledged_by"]),
                "recent": list(reversed(self.alerts.values()))[:50],
                "changes": list(reversed(self.changes))[:50]}


class Activity:
    """Arrivals the alert rules count over time windows (wall-clock µs as read)."""

    def __init__(self) -> None:
        self.post_to_order: deque[tuple[int, float]] = deque(maxlen=ACTIVITY)
        self.orders_sent: deque[int] = deque(maxlen=ACTIVITY)
        self.broker_failures: deque[tuple[int, str]] = deque(maxlen=ACTIVITY)
        self.fills: deque[tuple[int, str, str]] = deque(maxlen=ACTIVITY)
        self.order_ids: set[str] = set()

    def order(self, r: Mapping[str, Any], before: Mapping[str, Any] | None, seen: int) -> None:
        """An ``Order`` record: a new one sent (not refused by our own risk checks), or a
        change to ``error`` (not taken) or to ``rejected`` by the broker (it has its id)."""
        self.order_ids.add(r["client_order_id"])
        status = r["status"]
        if before is None and status not in ("rejected", "error"):
            self.orders_sent.append(seen)
        changed = before is None or before.get("status") != status
        if changed and (status == "error" or (status == "rejected" and r.get("broker_order_id"))):
            self.broker_failures.append((seen, r["broker"] or "broker"))

    def fill(self, r: Mapping[str, Any], seen: int) -> None:
        """A ``Fill`` record (a reconciliation's statement has no order by design)."""
        if not str(r["client_order_id"]).startswith(RECONCILE_PREFIX):
            self.fills.append((seen, r["client_order_id"], r["symbol"]))
