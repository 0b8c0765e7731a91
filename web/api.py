"""The REST API: read-only views, the control endpoint and the OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from stocktracker.domain.alerts import RESOLVED, Alert, acknowledged
from stocktracker.streams.core.settings import WebSettings
from stocktracker.streams.core.trace import now_us
from stocktracker.web.auth import bearer, may_control, may_view, origin_allowed
from stocktracker.web.control import (
    BadCommand,
    ControlWriter,
    NotDelivered,
    command_record,
    operator_of,
)
from stocktracker.web.hub import Feed
from stocktracker.web.openapi import spec

log = logging.getLogger(__name__)
MAX_LIMIT = 1000


def error(status: int, message: str) -> tuple[Response, int]:
    """A JSON error."""
    return jsonify({"error": message}), status


def _limit() -> int:
    raw = request.args.get("limit", "100")
    try:
        value = int(raw)
    except ValueError:
        raise BadCommand(f"limit must be an integer, not {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise BadCommand(f"limit must be between 1 and {MAX_LIMIT}")
    return value


def blueprint(web: WebSettings, feed: Feed, writer: ControlWriter | None,
              alert_writer: ControlWriter | None = None) -> Blueprint:
    """The ``/api`` routes over ``feed``; control commands go to ``writer`` (None: control off),
    acknowledgements of alerts to ``alert_writer`` (the ``alerts`` topic)."""
    bp = Blueprint("api", __name__, url_prefix="/api")

    @bp.before_request
    def guard() -> Any:
        if request.method == "OPTIONS" or request.endpoint == "api.openapi":
            return None
        presented = bearer(request.headers.get("Authorization"))
        if request.endpoint in ("api.control", "api.acknowledge"):
            if not origin_allowed(request.headers.get("Origin"), request.environ, web.cors_origins):
                return error(403, "origin not allowed")
            needed = writer if request.endpoint == "api.control" else alert_writer
            if needed is None or web.token is None:
                return error(403, "control is off: set WEB_TOKEN")
            allowed = may_control(web, presented)
        else:
            allowed = may_view(web, presented)
        if allowed:
            return None
        response, status = error(401, "a valid token is required (Authorization: Bearer <token>)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="stocktracker"'
        return response, status

    @bp.errorhandler(BadCommand)
    def bad(exc: BadCommand) -> tuple[Response, int]:
        return error(400, str(exc))

    @bp.get("/status")
    def status() -> Response:
        return jsonify(feed.status())

    @bp.get("/positions")
    def positions() -> Response:
        return jsonify(feed.positions())

    @bp.get("/signals")
    def signals() -> Response:
        return jsonify(feed.signals(_limit()))

    @bp.get("/orders")
    def orders() -> Response:
        return jsonify(feed.orders(_limit()))

    @bp.get("/metrics")
    def metrics() -> Response:
        return jsonify(feed.metrics())

    @bp.get("/skill")
    def skill() -> Response:
        return jsonify(feed.skill_view())

    @bp.get("/volatility")
    def volatility() -> Response:
        return jsonify(feed.volatility())

    @bp.get("/alerts")
    def alerts() -> Response:
        return jsonify(feed.alerts())

    @bp.post("/alerts/<path:alert_id>/ack")
    def acknowledge(alert_id: str) -> tuple[Response, int]:
        assert alert_writer is not None  # the guard refuses it without a writer
        received = now_us()
        body = request.get_json(silent=True) if request.is_json else {}
        operator = operator_of(body if isinstance(body, dict) else {})
        latest = feed.alert_record(alert_id)
        if latest is None:
            return error(404, f"no alert {alert_id!r}")
        if latest["state"] == RESOLVED:
            return error(409, f"alert {alert_id!r} is resolved; nothing to acknowledge")
        actor = f"{operator}@{request.remote_addr or 'unknown'} via web"
        record = acknowledged(Alert.from_record(latest), actor, received).to_record()
        record["trace"] = {"web_in": received, "web_out": now_us()}
        try:
            alert_writer.send(record)
        except NotDelivered as exc:
            return error(503, str(exc))
        log.warning("alert %s acknowledged by %s", alert_id, actor)
        return jsonify({"accepted": True, "record": record}), 202

    @bp.get("/openapi.json")
    def openapi() -> Response:
        return jsonify(spec())

    @bp.post("/control")
    def control() -> tuple[Response, int]:
        assert writer is not None  # the guard refuses control without a writer
        if not request.is_json:
            raise BadCommand("send a JSON body with Content-Type: application/json")
        body = request.get_json(silent=True)
        state, clock = feed.control_state()
        record = command_record(body, request.remote_addr or "unknown", state, clock)
        try:
            writer.send(record)
        except NotDelivered as exc:
            return error(503, str(exc))
        log.warning("control %s by %s: %s", record["command"], record["actor"], record["params"])
        return jsonify({"accepted": True, "record": record}), 202

    return bp
