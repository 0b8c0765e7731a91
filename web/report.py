"""The REST views (status, positions, signals, orders, metrics, model skill) from a
:class:`DashboardView` (the skill: from a :class:`~domain.skill.SkillReport`). Pure.

``health`` is what the feed's probe found about the outside (broker, the worker's consumer
group); ``now_us`` is the wall clock, read by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from stocktracker.domain.skill import SkillReport
from stocktracker.web.commands import PENDING
from stocktracker.web.underlyings import by_underlying
from stocktracker.web.view import DashboardView

STALE_S = 30.0  # the worker and ingest publish metrics every 10 s
SKILL_MIN_POSTS = 10  # fewer posts with a forward return: the page says "not enough posts yet"
UNKNOWN_HEALTH: dict[str, Any] = {
    "broker": {"connected": None, "error": "not probed", "checked_ms": None},
    "worker": {"group": None, "state": "unknown", "members": None, "lag": None, "lag_by_topic": {},
               "checked_ms": None},
    "feed": {"running": False, "error": None},
}


def _age_s(seen_us: int | None, now_us: int) -> float | None:
    return None if not seen_us else round(max(0, now_us - seen_us) / 1e6, 1)


def _seen_state(seen_us: int | None, now_us: int) -> str:
    if not seen_us:
        return "not seen"
    return "up" if now_us - seen_us <= STALE_S * 1e6 else "stale"


def components(view: DashboardView, health: dict[str, Any], now_us: int) -> list[dict[str, Any]]:
    """Each part of the system with a state (up, down, stale, not seen, unknown) and detail."""
    broker, worker, feed = health["broker"], health["worker"], health["feed"]
    connected = broker.get("connected")
    out = [
        {"name": "kafka", "state": {True: "up", False: "down"}.get(connected, "unknown"),
         "detail": broker.get("error") or f"{broker.get('brokers', '?')} broker(s)"},
        {"name": "worker", "state": ("up" if worker.get("members") else
                                     "down" if worker.get("members") == 0 else "unknown"),
         "detail": f"group {worker.get('state')}, {worker.get('members')} member(s), "
                   f"lag {worker.get('lag')}"},
        {"name": "dashboard feed", "state": "up" if feed.get("running") else "down",
         "detail": feed.get("error") or f"{sum(view.counts.values())} records read"},
    ]
    for stage, label in (("ingest", "ingest"), ("score", "sentiment models")):
        seen = view.component_seen.get(stage)
        out.append({"name": label, "state": _seen_state(seen, now_us),
                    "detail": f"metrics {_age_s(seen, now_us)} s ago" if seen else "no metrics yet",
                    "last_seen_s": _age_s(seen, now_us)})
    out += workers(view, now_us)
    posts = view.topic_seen.get("posts")
    out.append({"name": "posts", "state": _seen_state(posts, now_us),
                "detail": f"last post {_age_s(posts, now_us)} s ago" if posts else "no posts yet",
                "last_seen_s": _age_s(posts, now_us)})
    return out


def workers(view: DashboardView, now_us: int) -> list[dict[str, Any]]:
    """One row per worker that has said whether it is ready (``worker_ready`` records):
    up when ready, "not ready" while it joins, recovers or reconciles, stale when silent."""
    ready = {m["labels"]["worker"]: m for m in view.metrics.values()
             if m["name"] == "worker_ready" and "worker" in m["labels"]}
    owner = {m["labels"]["worker"]: m["value"] for m in view.metrics.values()
             if m["name"] == "worker_owner" and "worker" in m["labels"]}
    rows = []
    for worker, metric in sorted(ready.items()):
        seen = metric["seen_us"]
        state = _seen_state(seen, now_us)
        if state == "up" and not metric["value"]:
            state = "not ready"
        role = "owns the account" if owner.get(worker) else "scoring and standby"
        rows.append({"name": f"worker {worker}", "state": state,
                     "detail": f"{role}; said {_age_s(seen, now_us)} s ago",
                     "last_seen_s": _age_s(seen, now_us)})
    return rows


def trading(view: DashboardView) -> dict[str, Any]:
    """The switches and limits as the account's owner last confirmed them (all None and
    ``confirmed`` false until an owner has), which owner and when, and the commands sent:
    pending until the owner applies or refuses them (the audit)."""
    trail = view.commands
    state = trail.state
    rows = trail.entries()
    return {"confirmed": state is not None,
            "paused": None if state is None else state.paused,
            "killed": None if state is None else state.killed,
            "entries_allowed": None if state is None else not (state.paused or state.killed),
            "limits": None if state is None else state.to_record()["limits"],
            "owner": dict(trail.owner) if trail.owner else None,
            "last_command": rows[-1] if rows else None,
            "recent_commands": rows[::-1][:10],
            "pending": [e for e in reversed(rows) if e["status"] == PENDING][:10]}


def status(view: DashboardView, health: dict[str, Any], now_us: int,
           info: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/status`` and the ``system_status`` event."""
    return {
        "t": now_us // 1000,
        "trading": trading(view),
        "components": components(view, health, now_us),
        "broker": health["broker"],
        "worker": health["worker"],
        "pipeline_clock": view.clock_us // 1000 or None,
        "topics": {t: {"records": n, "last_seen_s": _age_s(view.topic_seen.get(t), now_us)}
                   for t, n in sorted(view.counts.items())},
        **info,
    }


def positions(view: DashboardView) -> dict[str, Any]:
    """``GET /api/positions``: every contract seen today (open first), P&L totals and the
    per-underlying summary (:func:`web.underlyings.by_underlying`)."""
    rows = [view.position(s) for s in view.positions]
    rows.sort(key=lambda p: (p["qty"] == 0, p["symbol"]))
    realized = sum(p["realized_pnl"] for p in rows)
    open_pnl = sum(p["unrealized_pnl"] for p in rows)
    return {"positions": rows, "open": sum(1 for p in rows if p["qty"]),
            "pnl": {"realized": round(realized, 2), "unrealized": round(open_pnl, 2),
                    "total": round(realized + open_pnl, 2)},
            "underlyings": by_underlying(view)}


def llm_usage(view: DashboardView) -> dict[str, Any]:
    """Per hosted model: calls, answers, errors, tokens, estimated cost (from ``llm_*`` metrics),
    summed over the workers (each reports its own counters, labelled with its id)."""
    models: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for metric in view.metrics.values():
        model = metric["labels"].get("model")
        if metric["name"].startswith("llm_") and model:
            models[model][metric["name"][4:]] += metric["value"]
    models = {model: dict(figures) for model, figures in models.items()}
    return {"models": dict(models),
            "calls": sum(m.get("calls", 0.0) for m in models.values()),
            "cost_usd": round(sum(m.get("cost_usd", 0.0) for m in models.values()), 6)}


def _by_name(view: DashboardView, prefix: str, label: str) -> dict[str, dict[str, float]]:
    """Counters named ``prefix*`` by ``label``, summed over the workers that report them."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for metric in view.metrics.values():
        if metric["name"].startswith(prefix):
            out[metric["labels"].get(label, "")][metric["name"][len(prefix):]] += metric["value"]
    return {key: dict(figures) for key, figures in out.items()}


def metrics(view: DashboardView, now_us: int, budget_ms: float,
            dashboard: dict[str, Any]) -> dict[str, Any]:
    """``GET /api/metrics``: latency per stage, throughput, errors, LLM usage and cost."""
    return {
        "t": now_us // 1000,
        "latency_ms": view.latency.rolling(),
        "budget_ms": budget_ms,
        "throughput": {"records_per_s": view.rates.rates(now_us), "records": dict(view.counts)},
        "errors": {"deadletter": dict(view.dead), "recent": list(view.errors)[-20:],
                   "sources": _by_name(view, "source_", "source")},
        "llm": llm_usage(view),
        "sentiment": _by_name(view, "ensemble_", "stage").get("score", {}),
        "ingest": _by_name(view, "ingest_", "stage").get("ingest", {}),
        "dashboard": dashboard,
    }


def skill(found: SkillReport, clock_us: int, *, window_s: float, threshold: float,
          horizons: tuple[int, ...], draws: int, computed_us: int | None) -> dict[str, Any]:
    """``GET /api/skill`` and the ``model_skill`` event: every model's skill per horizon
    (:meth:`SkillReport.as_dict`) over the posts of the window ending at the pipeline's
    clock ``clock_us`` (event time), with what it was measured with. ``t`` and
    ``computed_at`` (wall clock, ms) are None before the first computation."""
    return {"t": clock_us // 1000 or None,
            "computed_at": None if computed_us is None else computed_us // 1000,
            "window_s": window_s, "threshold": threshold, "horizons": list(horizons),
            "draws": draws, "min_posts": SKILL_MIN_POSTS, **found.as_dict()}
