"""Settings fail at start-up with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from stocktracker.streams.core.settings import UnknownSettingError, load_settings, unknown_keys


def test_defaults_are_paper_and_simulated(monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(tmp_path / ".env")
    assert settings.trading.mode == "paper" and settings.trading.broker == "simulated"
    assert settings.signal.tickers == ("SPY",)


def test_a_typo_in_a_key_is_refused_by_name(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RISK_MAX_ORDER_PER_MINUTE", "3")
    with pytest.raises(UnknownSettingError, match="RISK_MAX_ORDER_PER_MINUTE"):
        load_settings(tmp_path / ".env")


def test_a_typo_in_the_env_file_is_refused_too(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SIGNAL_TICKER=QQQ\n")
    with pytest.raises(UnknownSettingError, match="SIGNAL_TICKER"):
        load_settings(tmp_path / ".env")


def test_a_bad_value_names_its_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADING_MODE", "yolo")
    with pytest.raises(ValidationError, match="mode"):
        load_settings(tmp_path / ".env")


def test_kafka_tool_variables_and_lists_are_accepted(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("KAFKA_HEAP_OPTS", "-Xmx1g")
    monkeypatch.setenv("SIGNAL_TICKERS", "spy, qqq")
    assert unknown_keys(["KAFKA_HEAP_OPTS", "STREAM_COMMIT_INTERVAL_S"]) == []
    assert load_settings(tmp_path / ".env").signal.tickers == ("SPY", "QQQ")


def test_env_example_lists_every_setting_and_only_those() -> None:
    from stocktracker.streams.core.settings import SECTIONS
    from stocktracker.streams.venues import VENUE_SETTINGS

    sections = SECTIONS + VENUE_SETTINGS

    text = (Path(__file__).resolve().parents[2] / ".env.example").read_text()
    keys = {line.lstrip("# ").split("=")[0] for line in text.splitlines()
            if "=" in line and line.lstrip("# ")[:1].isupper()}
    wanted = {f"{section.model_config.get('env_prefix')}{name}".upper()
              if not isinstance(field.validation_alias, str) else field.validation_alias
              for section in sections for name, field in section.model_fields.items()}
    assert wanted - keys == set(), "missing from .env.example"
    assert unknown_keys(keys - {"SCHEMA_REGISTRY_URL"}, sections) == []


def test_llm_keys_are_secret_and_read_under_both_names(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GROQ_API_KEY", "gsk-plain")
    monkeypatch.setenv("SENTIMENT_ANTHROPIC_API_KEY", "sk-ant-prefixed")
    s = load_settings(tmp_path / ".env").sentiment
    assert s.groq_api_key is not None and s.groq_api_key.get_secret_value() == "gsk-plain"
    assert s.anthropic_api_key is not None
    assert "gsk-plain" not in repr(s) and "sk-ant-prefixed" not in str(s)


def test_a_typo_in_a_venue_key_is_refused_when_the_venues_are_read(monkeypatch: pytest.MonkeyPatch,
                                                                  tmp_path: Path) -> None:
    from stocktracker.streams.core.settings import SECTIONS
    from stocktracker.streams.venues import VENUE_SETTINGS

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INGEST_X_BEARER_TOKN", "t")
    monkeypatch.setenv("INGEST_X_MIN_FOLLOWERS", "5")
    with pytest.raises(UnknownSettingError, match="INGEST_X_BEARER_TOKN") as refused:
        load_settings(tmp_path / ".env", SECTIONS + VENUE_SETTINGS)
    assert "INGEST_X_MIN_FOLLOWERS" not in str(refused.value)
