"""Log lines as text or JSON, one per line, with every secret masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import BaseModel, SecretStr

from stocktracker.streams.core.logs import (
    KAFKA_CLIENT_LOGGER,
    QUIET_LOGGERS,
    kafka_logged,
    logging_config,
    secrets_of,
    setup_logging,
)

log = logging.getLogger("stocktracker.test_logs")  # made before any config, as our modules' are

ALPACA_SECRET = "alpaca-secret-value-9f8e7d"
# Secrets in the shapes the patterns know, none of them given by value.
BY_PATTERN = {
    "APCA-API-SECRET-KEY: Zx81QpLm77TtRr": "Zx81QpLm77TtRr",
    "Authorization: Bearer abcDEF123456ghiJKL": "abcDEF123456ghiJKL",
    "{'Authorization': 'Basic dXNlcjpwYXNzd29yZA=='}": "dXNlcjpwYXNzd29yZA==",
    "x-api-key: sk-ant-api03-Qw3rTy-uIoP4sDfG": "sk-ant-api03-Qw3rTy-uIoP4sDfG",
    "groq key gsk_A1b2C3d4E5f6G7h8I9j0": "gsk_A1b2C3d4E5f6G7h8I9j0",
    "openai key sk-proj-0123456789abcdefghijKLMN": "sk-proj-0123456789abcdefghijKLMN",
    "send: b'GET /v2/account HTTP/1.1\\r\\nAPCA-API-KEY-ID: PKTESTKEY12345\\r\\n'": "PKTESTKEY12345",
}


@contextmanager
def configured(fmt: str, secrets: tuple[str, ...] = (), level: str = "INFO") -> Iterator[io.StringIO]:
    """Logging set up as a process would, into a string; the root logger restored after."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in (*QUIET_LOGGERS, KAFKA_CLIENT_LOGGER)}
    out = io.StringIO()
    try:
        setup_logging(level, fmt, secrets, stream=out)
        yield out
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(root_level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_gives_one_object_per_line_with_the_ids_a_record_carries() -> None:
    with configured("json") as out:
        log.info("order %s sent\nsecond line", "o-1", extra={"order_id": "o-1", "trace_id": "t-9"})
        log.warning("no ids here: %r", {"set": {1}})
    first, second = lines(out)
    assert first["level"] == "INFO" and first["logger"] == "stocktracker.test_logs"
    assert first["message"] == "order o-1 sent\nsecond line"
    assert first["order_id"] == "o-1" and first["trace_id"] == "t-9"
    assert str(first["time"]).endswith("Z") and len(str(first["time"])) == len("2026-11-24T14:30:00.123Z")
    assert second["level"] == "WARNING" and "order_id" not in second and "exc" not in second


def test_a_value_json_cannot_hold_becomes_its_text() -> None:
    with configured("json") as out:
        log.info("odd extra", extra={"symbol": Path("SPY"), "signal_id": object()})
    (line,) = lines(out)
    assert line["symbol"] == "SPY" and str(line["signal_id"]).startswith("<object object")


def test_an_exception_traceback_is_in_exc() -> None:
    with configured("json") as out:
        try:
            raise RuntimeError("the broker hung up")
        except RuntimeError:
            log.exception("submit failed", extra={"client_order_id": "c-7"})
    (line,) = lines(out)
    assert line["level"] == "ERROR" and line["message"] == "submit failed"
    assert str(line["exc"]).startswith("Traceback") and "RuntimeError: the broker hung up" in str(line["exc"])
    assert line["client_order_id"] == "c-7"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_secrets_never_appear_in_either_format(fmt: str) -> None:
    with configured(fmt, secrets=(ALPACA_SECRET, "", "short")) as out:
        log.info("using key %s", ALPACA_SECRET)
        for text in BY_PATTERN:
            log.info("request headers %s", text)
        try:
            raise PermissionError(f"401 with {ALPACA_SECRET} and " + " ".join(BY_PATTERN))
        except PermissionError as exc:
            log.error("refused: %s", exc, exc_info=True)
        logging.getLogger("urllib3").warning("retrying with Authorization: Bearer abcDEF123456ghiJKL")
        log.info("a short word stays")
    written = out.getvalue()
    assert ALPACA_SECRET not in written
    for secret in BY_PATTERN.values():
        assert secret not in written
    assert "PermissionError" in written and "a short word stays" in written
    assert "APCA-API-SECRET-KEY: ***" in written and "Authorization: Bearer ***" in written


def test_a_message_whose_arguments_do_not_fit_is_still_written_and_masked() -> None:
    with configured("json", secrets=(ALPACA_SECRET,)) as out:
        log.info("%d orders", ALPACA_SECRET)
    (line,) = lines(out)
    assert ALPACA_SECRET not in out.getvalue() and "orders" in str(line["message"])


def test_the_text_format_is_the_classic_line() -> None:
    with configured("text") as out:
        log.info("hello %s", "world")
    assert out.getvalue().rstrip().endswith(" INFO stocktracker.test_logs: hello world")


def test_noisy_libraries_speak_only_at_debug() -> None:
    with configured("json") as out:
        logging.getLogger("aiokafka.consumer").info("fetching")
        logging.getLogger("faust").warning("lagging")
    assert [line["message"] for line in lines(out)] == ["lagging"]
    with configured("json", level="debug") as out:
        logging.getLogger("aiokafka.consumer").debug("fetching")
    assert [line["message"] for line in lines(out)] == ["fetching"]


def test_librdkafka_speaks_through_our_logging_and_only_of_errors() -> None:
    """A Kafka client's own lines (start-up retries, disconnects) no longer land raw on the
    terminal: they go through the handler (format, mask), errors only unless DEBUG."""
    from confluent_kafka import Consumer

    config = kafka_logged({"bootstrap.servers": "127.0.0.1:1", "group.id": "test-logs"})
    assert config["logger"].name == KAFKA_CLIENT_LOGGER
    with configured("json") as out:
        consumer = Consumer(config)
        consumer.subscribe(["nowhere"])
        consumer.poll(1.0)  # librdkafka's log lines are served on poll
        consumer.close()
        logging.getLogger(KAFKA_CLIENT_LOGGER).warning("Coordinator load in progress: retrying")
    got = lines(out)
    assert got and {line["logger"] for line in got} == {KAFKA_CLIENT_LOGGER}
    assert {line["level"] for line in got} == {"ERROR"}  # "connect failed", not the warning


def test_an_unknown_format_or_level_is_refused() -> None:
    with pytest.raises(ValueError, match="log format 'xml'"):
        logging_config("INFO", "xml", [])
    with pytest.raises(ValueError, match="log level 'loud'"):
        logging_config("loud", "text", [])


def test_the_faust_worker_logs_through_our_config() -> None:
    from mode.utils.logging import setup_logging as mode_setup_logging

    out = io.StringIO()
    with configured("text"):  # only for the restore
        mode_setup_logging(loglevel="info", logging_config=logging_config("info", "json", [ALPACA_SECRET],
                                                                          stream=out))
        log.info("decision: buy with %s", ALPACA_SECRET)
    (line,) = lines(out)
    assert line["message"] == "decision: buy with ***"


class _Venue(BaseModel):
    secret_key: SecretStr | None = None
    url: str = "http://localhost"


class _Section(BaseModel):
    token: SecretStr | None = None
    venues: tuple[_Venue, ...] = ()


class _Settings(BaseModel):
    web: _Section
    others: list[_Section] = []


def test_secrets_of_finds_every_secret_in_nested_models() -> None:
    token = SecretStr("web-token-1234567890")
    settings = _Settings(web=_Section(token=token,
                                      venues=(_Venue(secret_key=SecretStr("venue-secret")), _Venue())),
                         others=[_Section(token=SecretStr("")), _Section(token=token)])
    assert secrets_of(settings) == ["web-token-1234567890", "venue-secret"]
    assert secrets_of([settings, _Venue(secret_key=SecretStr("another"))])[-1] == "another"


def test_the_cli_masks_the_settings_secrets_the_venues_too(monkeypatch: pytest.MonkeyPatch,
                                                           tmp_path: Path) -> None:
    from stocktracker.streams.commands.cli import _secret_values

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WEB_TOKEN", "a-dashboard-token-0123456789")
    monkeypatch.setenv("ALPACA_SECRET_KEY", ALPACA_SECRET)
    assert {"a-dashboard-token-0123456789", ALPACA_SECRET} <= set(_secret_values())
    monkeypatch.setenv("TRADING_MODE", "yolo")  # the settings fail; the venue's still count
    values = _secret_values()
    assert ALPACA_SECRET in values and "a-dashboard-token-0123456789" not in values


def test_the_cli_writes_json_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from stocktracker.streams.commands.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "set.csv").write_text('text,label\n"calls ripping, $SPY to the moon",1\n')
    env = {"STOCKTRACKER_LOG_FORMAT": "json", "SENTIMENT_FINBERT": "off", "GROQ_API_KEY": None,
           "ANTHROPIC_API_KEY": None, "SENTIMENT_GROQ_API_KEY": None, "SENTIMENT_ANTHROPIC_API_KEY": None}
    with configured("text"):  # only for the restore
        result = CliRunner().invoke(main, ["eval-sentiment", "set.csv"], env=env)
    assert result.exit_code == 0, result.output
    written = [json.loads(line) for line in result.stderr.splitlines()]
    assert any(line["level"] == "INFO" and line["logger"] == "stocktracker.sentiment.ensemble"
               and line["message"] == "sentiment models: lexicon" for line in written)
