"""The OpenAPI 3.1 description of the dashboard's REST API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from stocktracker.domain.control import COMMANDS, LIMITS
from stocktracker.web.events import EVENTS

_OBJ: dict[str, Any] = {"type": "object"}
_ERROR = {"description": "error", "content": {"application/json": {"schema": {
    "type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}}}}
_UNAUTHORIZED = {**_ERROR, "description": "no token or a wrong token"}


def _get(summary: str, schema: dict[str, Any], params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearer": []}, {}],
        "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": schema}}},
                      "401": _UNAUTHORIZED},
    }
    if params:
        op["parameters"] = params
        op["responses"]["400"] = _ERROR
    return {"get": op}


_LIMIT = [{"name": "limit", "in": "query", "required": False,
           "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}}]

CONTROL_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["command"],
    "additionalProperties": False,
    "properties": {
        "command": {"type": "string", "enum": list(COMMANDS)},
        "params": {"type": "object", "description": "kill: flatten=true|false; close: "
                   "symbol=<OCC symbol>; set_limits: "
                   f"{', '.join(sorted(LIMITS))}, reset=true|false. Values are sent as strings.",
                   "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "reason": {"type": "string", "maxLength": 200},
        "operator": {"type": "string", "pattern": "^[A-Za-z0-9_.@-]{1,64}$",
                     "description": "Who sends it (audit trail); default 'operator'."},
        "confirm": {"type": "boolean",
                    "description": "Must be true for kill, flatten and close."},
    },
}


_INTERVAL: dict[str, Any] = {"type": ["array", "null"], "items": {"type": "number"},
                             "minItems": 2, "maxItems": 2, "description": "95 % [low, high]"}
_RATIO: dict[str, Any] = {"type": ["number", "null"]}
SKILL: dict[str, Any] = {
    "type": "object",
    "required": ["t", "computed_at", "window_s", "threshold", "horizons", "draws", "min_posts",
                 "posts", "no_market", "models"],
    "properties": {
        "t": {"type": ["integer", "null"], "description": "pipeline clock (event time, ms) "
              "the window ends at; null before the first computation"},
        "computed_at": {"type": ["integer", "null"], "description": "wall clock, ms"},
        "window_s": {"type": "number"}, "threshold": {"type": "number"},
        "horizons": {"type": "array", "items": {"type": "integer"}},
        "draws": {"type": "integer", "description": "bootstrap draws of the IC interval"},
        "min_posts": {"type": "integer", "description": "fewer posts: not enough to judge"},
        "posts": {"type": "integer"},
        "no_market": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "per horizon (s): posts without a forward return"},
        "models": {"type": "object", "description": "model -> horizon (s, as a string) -> figures",
                   "additionalProperties": {"type": "object", "additionalProperties": {
                       "type": "object",
                       "properties": {"n": {"type": "integer"}, "ic": _RATIO, "ic_interval": _INTERVAL,
                                      "hit_rate": _RATIO, "hits": {"type": "integer"},
                                      "calls": {"type": "integer"}, "hit_interval": _INTERVAL,
                                      "sorting": _RATIO,
                                      "calibration": {"type": "array", "items": _OBJ}}}}},
    },
}


def spec(version: str = "0.1.0") -> dict[str, Any]:
    """The document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "stock-tracker dashboard", "version": version,
                 "description": "The operator's view of the running pipeline. Views need the token "
                                "unless WEB_READ_ONLY_OPEN is set; control always does. Socket.IO "
                                f"events (auth.token in the handshake): {', '.join(EVENTS)}, each "
                                "a batch {items, dropped}."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            "/api/status": _get("Components, broker connection, worker lag, trading paused or not as the "
                                "account's owner confirmed it, and the commands sent (pending, "
                                "applied or refused)", _OBJ),
            "/api/positions": _get("Positions with mark and P&L, and totals", _OBJ),
            "/api/signals": _get("Recent signals (newest first) with their reasons and outcomes",
                                 {"type": "array", "items": _OBJ}, _LIMIT),
            "/api/orders": _get("Recent orders (newest first, latest state of each)",
                                {"type": "array", "items": _OBJ}, _LIMIT),
            "/api/metrics": _get("Latency percentiles per stage, throughput, errors, LLM usage and cost",
                                 _OBJ),
            "/api/skill": _get("Model skill over the last WEB_SKILL_WINDOW_S of posts: per model "
                               "(ensemble, lexicon, finbert, groq, claude as present) and horizon "
                               "(60, 300, 900 s), the IC of score vs the underlying's forward return "
                               "with its bootstrap interval, the hit rate of calls (|score| >= "
                               "threshold) with its Wilson interval, confidence sorting and "
                               "calibration buckets (what the model_skill event sends)", SKILL),
            "/api/volatility": _get("Per ticker: the LLM's volatility read over the sentiment window "
                                    "(majority read, low/normal/high counts, mean 90% interval "
                                    "width), the measured regime of that underlying, and whether "
                                    "they agree (what the volatility_update event sends)",
                                    {"type": "array", "items": _OBJ}),
            "/api/control": {"post": {
                "summary": "Pause, resume, kill, flatten, close one position or set limits (written "
                           "to the control topic)",
                "security": [{"bearer": []}],
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": CONTROL_BODY}}},
                "responses": {
                    "202": {"description": "written to the control topic (the record is returned); "
                                           "pending until the account's owner applies it",
                            "content": {"application/json": {"schema": _OBJ}}},
                    "400": _ERROR, "401": _UNAUTHORIZED,
                    "403": {**_ERROR, "description": "control is off (no token set) or origin refused"},
                    "503": {**_ERROR, "description": "the broker did not acknowledge"},
                }}},
            "/api/alerts": _get("Alerts firing now (most severe first; unacknowledged counted), "
                                "recent alerts and the audit trail of their changes (fired, "
                                "resolved, acknowledged by whom)", _OBJ),
            "/api/alerts/{alert_id}/ack": {"post": {
                "summary": "Acknowledge a firing alert (written to the alerts topic with who and "
                           "when; its notifications are unchanged)",
                "security": [{"bearer": []}],
                "parameters": [{"name": "alert_id", "in": "path", "required": True,
                                "schema": {"type": "string"}, "description": "rule:subject"}],
                "requestBody": {"required": False, "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"operator": CONTROL_BODY["properties"][
                        "operator"]}}}}},
                "responses": {
                    "202": {"description": "written (the record is returned)",
                            "content": {"application/json": {"schema": _OBJ}}},
                    "400": _ERROR, "401": _UNAUTHORIZED,
                    "403": {**_ERROR, "description": "control is off (no token set) or origin refused"},
                    "404": {**_ERROR, "description": "no such alert"},
                    "409": {**_ERROR, "description": "the alert is resolved"},
                    "503": {**_ERROR, "description": "the broker did not acknowledge"},
                }}},
            "/api/openapi.json": {"get": {"summary": "This document", "security": [{}],
                                          "responses": {"200": {"description": "ok"}}}},
        },
    }
