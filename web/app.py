"""The dashboard's Flask app: :func:`create_app` wires a feed, a control writer and the page.

``stocktracker web`` calls :func:`run`; tests call :func:`create_app` with a :class:`Feed`
they fill themselves and a control writer of their choice.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, render_template, request
from flask_socketio import SocketIO

from stocktracker.connectors.webhook import notifier_from
from stocktracker.domain.control import LIMITS
from stocktracker.streams.core.metrics import exposition
from stocktracker.streams.core.settings import Settings
from stocktracker.web import api, sockets
from stocktracker.web.alerting import AlertMonitor
from stocktracker.web.auth import bearer, check_settings, may_view, origin_allowed
from stocktracker.web.control import ControlWriter
from stocktracker.web.hub import Feed
from stocktracker.web.prometheus import DashboardMetrics

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
                               "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def info(settings: Settings, control: bool) -> dict[str, Any]:
    """What the page may know about the set-up (nothing secret)."""
    return {"tickers": list(settings.signal.tickers), "trading_broker": settings.trading.broker,
            "trading_mode": settings.trading.mode, "topic_prefix": settings.kafka.topic_prefix,
            "views_open": settings.web.read_only_open,
            "control_enabled": control and settings.web.token is not None,
            "emit_interval_ms": settings.web.emit_interval_ms, "limits": sorted(LIMITS)}


def create_app(settings: Settings, feed: Feed, control_writer: ControlWriter | None,
               start_emitter: bool = True, alert_writer: ControlWriter | None = None) -> Flask:
    """The app; ``app.extensions`` holds ``socketio`` and ``emitter`` (start_emitter=False:
    tests call ``emitter.flush()`` themselves).

    Raises ValueError when the settings leave the dashboard unusable or unsafe
    (:func:`web.auth.check_settings`).
    """
    web = settings.web
    check_settings(web)
    feed.info.update(info(settings, control_writer is not None))
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config["JSON_SORT_KEYS"] = False
    app.register_blueprint(api.blueprint(web, feed, control_writer, alert_writer))
    socketio = SocketIO(app, async_mode="threading", logger=False, engineio_logger=False,
                        cors_allowed_origins=lambda origin, environ: origin_allowed(
                            origin, environ, web.cors_origins))
    sockets.register(socketio, web, feed)
    emitter = sockets.Emitter(socketio, feed, web.emit_interval_ms / 1000)
    app.extensions["emitter"] = emitter

    @app.get("/")
    def index() -> str:
        return render_template("index.html", info=feed.info)

    metrics = DashboardMetrics()
    metrics.watch(feed)
    app.extensions["metrics"] = metrics

    @app.get("/metrics")
    def prometheus() -> Any:
        """Prometheus' scrape: read as the API is (WEB_READ_ONLY_OPEN, else the token)."""
        if not may_view(web, bearer(request.headers.get("Authorization"))):
            return Response("a valid token is required\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="stocktracker"'})
        body, content_type = exposition(metrics.registry)
        return Response(body, headers={"Content-Type": content_type})

    @app.after_request
    def headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        origin = request.headers.get("Origin")
        if request.path.startswith("/api/") and origin and origin_allowed(origin, request.environ,
                                                                         web.cors_origins):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
        return response

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_here(exc: Any) -> Any:
        if request.path.startswith("/api/"):
            return api.error(exc.code, exc.description)
        return exc

    if start_emitter:
        feed.start()
        emitter.start()
    return app


def run(settings: Settings) -> None:
    """Serve the dashboard until interrupted (``stocktracker web``)."""
    from stocktracker.schemas.codec import make_codec
    from stocktracker.web.control import KafkaControlWriter
    from stocktracker.web.feed import KafkaFeed

    codec = make_codec(settings.stream.schema_registry_url)
    feed = KafkaFeed(settings, codec)
    kafka = settings.kafka
    writer = (KafkaControlWriter(kafka.bootstrap_servers, codec, kafka.topic_prefix)
              if settings.web.token is not None else None)
    alerts = KafkaControlWriter(kafka.bootstrap_servers, codec, kafka.topic_prefix,
                                topic="alerts", record_name="Alert", key=None)
    app = create_app(settings, feed, writer, alert_writer=alerts)
    socketio: SocketIO = app.extensions["socketio"]
    monitor = start_monitor(settings, feed, alerts)
    try:
        socketio.run(app, host=settings.web.host, port=settings.web.port, allow_unsafe_werkzeug=True,
                     use_reloader=False, log_output=False)
    finally:
        if monitor is not None:
            monitor.stop()
        app.extensions["emitter"].stop()
        feed.stop()


def start_monitor(settings: Settings, feed: Feed, writer: ControlWriter) -> AlertMonitor | None:
    """The alert monitor over ``feed``, started (None when ``ALERT_ENABLED`` is false)."""
    alert = settings.alert
    if not alert.enabled:
        return None
    notifier = notifier_from(
        alert.webhook_url.get_secret_value() if alert.webhook_url else None,
        alert.slack_webhook_url.get_secret_value() if alert.slack_webhook_url else None,
        alert.source, alert.webhook_timeout_s, alert.webhook_retries)
    monitor = AlertMonitor(feed, settings, writer, notifier)
    monitor.start()
    return monitor
