"""Settings: one pydantic-settings tree, read from the environment and `.env`.

Nothing is read at import time: call :func:`load_settings` (the CLI does, once).
Unknown keys with a known prefix are refused, so a typo fails at start-up with its name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from dotenv import dotenv_values
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HOME = Path.home()


class _Section(BaseSettings):
    """Base for one settings section: `.env` aware, unknown keys refused."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)


class KafkaSettings(_Section):
    """Where the broker is and how topics are laid out (prefix ``KAFKA_``)."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", env_file=".env", extra="ignore",
                                      frozen=True)

    bootstrap_servers: str = "127.0.0.1:9092"
    partitions: int = Field(default=4, ge=1, description="Partitions of every topic.")
    replication: int = Field(default=1, ge=1, description="Replication factor of every topic.")
    topic_prefix: str = Field(default="", description="Prefix of every topic (backtest runs).")
    home: Path | None = Field(default=None, description="Use jars from $KAFKA_HOME/libs.")
    local_port: int = 9092
    local_controller_port: int = 9093
    local_data_dir: Path = _HOME / ".local/share/stocktracker/kafka"
    cache_dir: Path = _HOME / ".cache/stocktracker/kafka"
    version: str = "4.1.1"


class StreamSettings(_Section):
    """The Faust worker (prefix ``STREAM_``)."""

    model_config = SettingsConfigDict(env_prefix="STREAM_", env_file=".env", extra="ignore",
                                      frozen=True)

    app_id: str = "stocktracker"
    store: str = Field(default="rocksdb://", description="Table store: rocksdb:// or memory://")
    data_dir: Path = _HOME / ".local/share/stocktracker/worker"
    web_port: int = Field(default=6066, description="Faust's own web port (one per worker).")
    commit_interval_s: float = Field(default=10.0, gt=0,
                                     description="How often the worker commits offsets.")
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias="SCHEMA_REGISTRY_URL",
        description="Confluent wire format through this registry when set.",
    )


class SignalSettings(_Section):
    """Signal rules (prefix ``SIGNAL_``)."""

    model_config = SettingsConfigDict(env_prefix="SIGNAL_", env_file=".env", extra="ignore",
                                      frozen=True)

    tickers: Annotated[tuple[str, ...], NoDecode] = ("SPY",)
    window_s: float = Field(default=300.0, gt=0, description="Hopping window size.")
    step_s: float = Field(default=60.0, gt=0, description="Hopping window step.")
    tumbling_s: float = Field(default=60.0, gt=0, description="Tumbling window size.")
    bullish_threshold: float = Field(default=0.25, gt=0, le=1)
    bearish_threshold: float = Field(default=-0.25, ge=-1, lt=0)
    min_confidence: float = Field(default=0.2, ge=0, le=1)
    min_posts: int = Field(default=4, ge=1)
    min_authors: int = Field(default=3, ge=1)
    cooldown_s: float = Field(default=600.0, ge=0)

    @field_validator("tickers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip().upper() for t in value.split(",") if t.strip())
        return value


class RiskSettings(_Section):
    """Risk limits checked before every order (prefix ``RISK_``)."""

    model_config = SettingsConfigDict(env_prefix="RISK_", env_file=".env", extra="ignore",
                                      frozen=True)

    max_contracts_per_order: int = Field(default=5, ge=1)
    max_position_contracts: int = Field(default=10, ge=1)
    max_total_contracts: int = Field(default=20, ge=1)
    max_orders_per_minute: int = Field(default=6, ge=1)
    entry_cutoff_minutes: int = Field(default=30, ge=0, description="No entries this close to the close.")
    max_quote_age_s: float = Field(default=30.0, gt=0)
    exchange: str = "XNYS"


class TradingSettings(_Section):
    """Execution (prefix ``TRADING_``). Paper is the default; live needs this and a flag."""

    model_config = SettingsConfigDict(env_prefix="TRADING_", env_file=".env", extra="ignore",
                                      frozen=True)

    broker: str = Field(default="simulated", pattern="^(simulated|alpaca)$")
    mode: str = Field(default="paper", pattern="^(paper|live)$")
    contracts_per_signal: int = Field(default=1, ge=1)
    strike_offset: int = Field(default=0, description="0 = ATM, +n = n strikes OTM.")
    slippage: float = Field(default=0.01, ge=0, description="$ per contract share, simulated.")
    commission: float = Field(default=0.65, ge=0, description="$ per contract, simulated.")


class AlpacaSettings(_Section):
    """Alpaca credentials (prefix ``ALPACA_``); never logged."""

    model_config = SettingsConfigDict(env_prefix="ALPACA_", env_file=".env", extra="ignore",
                                      frozen=True)

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None


class Settings(BaseSettings):
    """Every section, built once at start-up."""

    model_config = SettingsConfigDict(frozen=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    signal: SignalSettings = Field(default_factory=SignalSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    alpaca: AlpacaSettings = Field(default_factory=AlpacaSettings)


SECTIONS: dict[str, type[BaseSettings]] = {
    "KAFKA_": KafkaSettings, "STREAM_": StreamSettings, "SIGNAL_": SignalSettings,
    "RISK_": RiskSettings, "TRADING_": TradingSettings, "ALPACA_": AlpacaSettings,
}
# Variables of Kafka's own scripts and JVM that share our prefix.
FOREIGN = frozenset({"KAFKA_OPTS", "KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
                     "KAFKA_LOG4J_OPTS", "KAFKA_JMX_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_DEBUG"})


class UnknownSettingError(ValueError):
    """A variable with one of our prefixes that no setting reads (usually a typo)."""


def unknown_keys(names: Iterable[str]) -> list[str]:
    """The names with one of our prefixes that match no setting."""
    known = {f"{prefix}{field}".upper() for prefix, section in SECTIONS.items()
             for field in section.model_fields}
    return sorted(n for n in names if n.upper() not in known and n.upper() not in FOREIGN
                  and any(n.upper().startswith(prefix) for prefix in SECTIONS))


def load_settings(env_file: Path = Path(".env")) -> Settings:
    """Read every section from the environment and `.env`.

    Raises :class:`UnknownSettingError` naming any variable with our prefixes that no
    setting reads, and pydantic's ValidationError naming a key whose value is wrong.
    """
    names = set(os.environ)
    if env_file.is_file():
        names |= set(dotenv_values(env_file))
    unknown = unknown_keys(names)
    if unknown:
        raise UnknownSettingError(f"unknown setting(s): {', '.join(unknown)} "
                                  "(see .env.example for every setting)")
    return Settings()
