"""Logging for every process: one handler on stderr, text or JSON lines, secrets masked.

``STOCKTRACKER_LOG_FORMAT=json`` gives one JSON object per line (``time``, ``level``,
``logger``, ``message``, ``exc`` and the ids a record carries); ``text`` is the classic
line. The mask sits on the handler, so it covers every logger, the SDKs' too: the values
of the secret settings and the shapes of keys and auth headers become ``***``.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
import time
from collections.abc import Iterable, Sequence
from typing import IO, Any

from pydantic import BaseModel, SecretStr

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
MASK = "***"
# Shorter secret values would mask ordinary words and numbers everywhere.
MIN_SECRET_LENGTH = 6
# Record attributes (``extra=``) that a JSON line carries when a record has them.
EXTRA_KEYS = ("trace_id", "order_id", "client_order_id", "signal_id", "symbol")
# Third-party loggers kept at WARNING unless the level is DEBUG.
QUIET_LOGGERS = ("faust", "mode", "aiokafka", "kafka", "urllib3", "httpx", "httpcore", "asyncio",
                 "werkzeug", "engineio", "socketio")

# librdkafka's own lines (the confluent-kafka clients: "Coordinator load in progress",
# "Disconnected" at start-up and close) come here, not raw on stderr; ERROR unless DEBUG.
KAFKA_CLIENT_LOGGER = "librdkafka"

# A header's value and what comes between name and value, as text, JSON, a dict's or a
# bytes tuple's repr. No word boundary before the names: in a repr they follow a literal \n.
_VALUE = r"[^\s\"',;}\\]+"
_SEPARATOR = r"[\"']?\s*[:=,]\s*(?:b?[\"'])?"
# (pattern, replacement): each keeps the name and masks the value.
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(rf"(?i)(apca-api-key-id|apca-api-secret-key|x-api-key)({_SEPARATOR}){_VALUE}"),
     rf"\1\2{MASK}"),
    (re.compile(rf"(?i)(authorization{_SEPARATOR})((?:bearer|basic|token)\s+)?{_VALUE}"),
     rf"\1\2{MASK}"),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), rf"\1{MASK}"),
    (re.compile(r"sk-ant-[A-Za-z0-9_-]{8,}"), MASK),
    (re.compile(r"gsk_[A-Za-z0-9]{8,}"), MASK),
    (re.compile(r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"), MASK),
)


def _text(value: object) -> str:
    """``str(value)``, or a placeholder when even that fails."""
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _utc_time(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class SecretMask(logging.Filter):
    """Masks secrets in a record's message, exception text and ids, before any formatter.

    Parameters
    ----------
    secrets
        Secret values masked wherever they appear (empty and short ones are ignored);
        :data:`PATTERNS` are masked too.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        values = sorted({s for s in secrets if len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)
        self._values = re.compile("|".join(map(re.escape, values))) if values else None

    def mask(self, text: str) -> str:
        """``text`` with every secret value and secret-shaped string as ``***``."""
        if self._values is not None:
            text = self._values.sub(MASK, text)
        for pattern, replacement in PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask ``record`` in place (the message is formatted here, once); keeps every record."""
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: logging would print them raw in its error report
            message = f"{_text(record.msg)} {_text(record.args)}"
        record.msg, record.args = self.mask(message), ()
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is masked too.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        for key in EXTRA_KEYS:
            value = getattr(record, key, None)
            if isinstance(value, str):
                setattr(record, key, self.mask(value))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (UTC), ``level``, ``logger``, ``message``,
    ``exc`` and ``stack`` when there are, and the :data:`EXTRA_KEYS` a record carries."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON; never raises."""
        try:
            return json.dumps(self._fields(record), default=_text)
        except Exception:
            return json.dumps({"time": _utc_time(record), "level": _text(record.levelname),
                               "logger": _text(record.name), "message": _text(record.msg)},
                              default=_text)

    def _fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {"time": _utc_time(record), "level": record.levelname,
                                  "logger": record.name, "message": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            fields["exc"] = record.exc_text
        if record.stack_info:
            fields["stack"] = self.formatStack(record.stack_info)
        for key in EXTRA_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                fields[key] = value
        return fields


def logging_config(level: str, fmt: str, secrets: Sequence[str],
                   stream: IO[str] | None = None) -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` dict: one stderr handler, masked, root at ``level``.

    Parameters
    ----------
    level
        A level name (``INFO``, ``debug``...); below DEBUG the :data:`QUIET_LOGGERS` stay
        at WARNING.
    fmt
        ``text`` or ``json``.
    secrets
        Values to mask (with the :data:`PATTERNS`).
    stream
        Where the lines go (tests); stderr as it is when the config is applied by default.

    Raises
    ------
    ValueError
        An unknown format or level.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: use one of {', '.join(FORMATS)}")
    name = level.upper()
    if not isinstance(logging.getLevelName(name), int):
        raise ValueError(f"unknown log level {level!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL")
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    # Listed even at DEBUG (as NOTSET) so that a second config undoes the first's WARNING.
    quiet = "NOTSET" if name == "DEBUG" else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,  # our modules' loggers exist before this runs
        "formatters": {"default": formatter},
        "filters": {"mask": {"()": SecretMask, "secrets": list(secrets)}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default",
                                 "filters": ["mask"],
                                 "stream": "ext://sys.stderr" if stream is None else stream}},
        "root": {"level": name, "handlers": ["default"]},
        "loggers": {**{logger: {"level": quiet} for logger in QUIET_LOGGERS},
                    KAFKA_CLIENT_LOGGER: {"level": "NOTSET" if name == "DEBUG" else "ERROR"}},
    }


def setup_logging(level: str, fmt: str, secrets: Sequence[str], stream: IO[str] | None = None) -> None:
    """Apply :func:`logging_config` (replacing the root logger's handlers)."""
    logging.config.dictConfig(logging_config(level, fmt, secrets, stream))


def secrets_of(settings_obj: object) -> list[str]:
    """Every ``SecretStr`` value in a settings object: its fields, nested models, lists and
    tuples of them, walked recursively; empty values left out, each value once."""
    found: list[str] = []
    _collect(settings_obj, found)
    return list(dict.fromkeys(found))


def _collect(value: object, found: list[str]) -> None:
    if isinstance(value, SecretStr):
        if secret := value.get_secret_value():
            found.append(secret)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found)


def kafka_logged(config: dict[str, Any]) -> dict[str, Any]:
    """A confluent-kafka client config whose librdkafka log lines go through our logging
    (:data:`KAFKA_CLIENT_LOGGER`: masked, formatted, quiet unless DEBUG)."""
    return {**config, "logger": logging.getLogger(KAFKA_CLIENT_LOGGER)}
