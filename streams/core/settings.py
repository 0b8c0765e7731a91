"""Settings: one pydantic-settings tree, read from the environment and `.env`.

Nothing is read at import time: call :func:`load_settings` (the CLI does, once).
Unknown keys with a known prefix are refused, so a typo fails at start-up with its name.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from stocktracker.domain.alert_rules import AlertLimits

_HOME = Path.home()


def comma_separated(value: object) -> object:
    """A validator (``mode="before"``): ``"a, b"`` from the environment as ``("a", "b")``."""
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return value


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
    web_host: str = Field(default="127.0.0.1", description="The worker's operations port "
                                                          "listens here (0.0.0.0 in a container).")
    web_port: int = Field(default=6066, ge=0, le=65535,
                          description="The worker's operations port: /metrics, /live, /ready "
                                      "(one per worker).")
    commit_interval_s: float = Field(default=10.0, gt=0,
                                     description="How often the worker commits offsets.")
    session_timeout_s: float = Field(
        default=10.0, ge=6, le=300,
        description="How long the broker waits for a silent worker before giving its "
                    "partitions to another (a crashed worker stalls trading this long).")
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
    min_engagement: int = Field(default=0, ge=0, description="Window engagement needed to fire.")
    momentum_against: float = Field(default=0.5, ge=0, le=2,
                                    description="Most momentum against the direction allowed.")

    @field_validator("tickers", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip().upper() for t in value.split(",") if t.strip())
        return value


class IngestSettings(_Section):
    """Live sources and what happens to a post before Kafka (prefix ``INGEST_``)."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", env_file=".env", extra="ignore",
                                      frozen=True)

    sources: Annotated[tuple[str, ...], NoDecode] = ("x", "reddit")
    buffer_size: int = Field(default=10_000, ge=1, description="Posts held between sources and Kafka.")
    min_relevance: float = Field(default=0.2, ge=0, le=1, description="Below it: counted, dropped.")
    languages: Annotated[tuple[str, ...], NoDecode] = ("en",)
    dedup_window_s: float = Field(default=3600.0, gt=0, description="Duplicates looked for this far back.")
    dedup_max_posts: int = Field(default=50_000, ge=1, description="Memory bound of the dedup window.")
    near_duplicate_threshold: float = Field(default=0.8, gt=0, le=1,
                                            description="Similarity at which a post is a repost.")
    health_interval_s: float = Field(default=10.0, gt=0)
    reconnect_max_s: float = Field(default=120.0, gt=0, description="Cap of the reconnect backoff.")

    _split = field_validator("sources", "languages", mode="before")(comma_separated)


class ImportSettings(_Section):
    """``stocktracker import market`` (prefix ``IMPORT_``)."""

    model_config = SettingsConfigDict(env_prefix="IMPORT_", env_file=".env", extra="ignore",
                                      frozen=True)

    cache_dir: Path = Field(default=_HOME / ".cache/stocktracker/market",
                            description="Alpaca's answers, JSON per symbol and day; done markers.")
    strikes_each_side: int = Field(default=5, ge=0, le=50,
                                   description="Strikes below the open and at or above it.")
    strike_window_pct: float = Field(default=3.0, gt=0, le=50,
                                     description="Expired contracts asked for: within this % of the open.")
    trades: bool = Field(default=False, description="Also import trades (many more requests).")
    stock_feed: str = Field(default="sip", pattern="^(sip|iex)$",
                            description="The underlying's feed: sip (all exchanges) or iex.")
    range_weight: float = Field(default=0.5, ge=0, le=10, allow_inf_nan=False,
                                description="Spread model: at least this share of the bar's range.")


class SentimentSettings(_Section):
    """The sentiment ensemble (prefix ``SENTIMENT_``). API keys are never logged."""

    model_config = SettingsConfigDict(env_prefix="SENTIMENT_", env_file=".env", extra="ignore",
                                      frozen=True)

    deadline_ms: float = Field(default=100.0, gt=0,
                               description="The score is emitted at this deadline with what arrived.")
    weight_finbert: float = Field(default=0.30, ge=0, description="Lexicon's weight when FinBERT is off.")
    weight_groq: float = Field(default=0.35, ge=0)
    weight_claude: float = Field(default=0.35, ge=0)
    disagreement_bound: float = Field(default=0.8, gt=0, le=2,
                                      description="Score spread between models that sets the flag.")
    neutral_band: float = Field(default=0.05, ge=0, lt=1,
                                description="The ensemble's label: neutral when |score| < band.")
    neutral_band_lexicon: float | None = Field(default=None, ge=0, lt=1,
                                               description="The lexicon's label; unset: neutral_band.")
    neutral_band_finbert: float | None = Field(
        default=None, ge=0, lt=1, description="FinBERT's label from its score; unset: its top class.")
    neutral_band_groq: float | None = Field(
        default=None, ge=0, lt=1, description="Groq's label from its score; unset: the label it gives.")
    neutral_band_claude: float | None = Field(
        default=None, ge=0, lt=1, description="Claude's label from its score; unset: the label it gives.")
    cache_size: int = Field(default=20_000, ge=0, description="Answers cached by text hash.")
    concurrency: int = Field(default=32, ge=1, description="Posts scored at once by one worker.")
    # FinBERT
    finbert: str = Field(default="auto", pattern="^(auto|on|off)$",
                         description="auto: use FinBERT when its weights are found; on: require them.")
    finbert_model: str = Field(default="ProsusAI/finbert", description="Hub id looked up in the HF cache.")
    finbert_path: Path | None = Field(default=None, description="A local directory with the weights.")
    finbert_device: str = Field(default="auto", pattern="^(auto|cpu|cuda)$")
    finbert_threads: int = Field(default=2, ge=1, description="torch threads on CPU.")
    finbert_quantize: bool = Field(default=True, description="int8 dynamic quantisation on CPU.")
    finbert_batch_max: int = Field(default=16, ge=1, description="Micro-batch: at most this many texts")
    finbert_batch_wait_ms: float = Field(default=2.0, ge=0, description="... or this long, first wins.")
    finbert_max_tokens: int = Field(default=64, ge=8)
    finbert_sim_latency_ms: float = Field(
        default=15.0, ge=0, description="Backtests: FinBERT's answer time in event time, judged "
                                        "against DEADLINE_MS (measured: docs/performance.md).")
    # Hosted LLMs
    groq_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENTIMENT_GROQ_API_KEY", "GROQ_API_KEY"))
    groq_model: str = Field(default="openai/gpt-oss-120b",
                            description="llama-3.3-70b-versatile where the account still has it.")
    groq_base_url: str | None = None
    groq_timeout_s: float = Field(default=2.0, gt=0)
    anthropic_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SENTIMENT_ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"))
    claude_model: str = "claude-haiku-4-5"
    anthropic_base_url: str | None = None
    claude_timeout_s: float = Field(default=3.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, description="Retries on 429/5xx, with backoff.")
    llm_min_relevance: float = Field(default=0.3, ge=0, le=1,
                                     description="Only posts at least this relevant go to the LLMs.")
    llm_calls_per_minute: int = Field(default=60, ge=0, description="Per LLM; 0 turns the LLMs off.")
    groq_usd_per_mtok_in: float = Field(default=0.15, ge=0)
    groq_usd_per_mtok_out: float = Field(default=0.60, ge=0)
    claude_usd_per_mtok_in: float = Field(default=1.00, ge=0)
    claude_usd_per_mtok_out: float = Field(default=5.00, ge=0)


class RiskSettings(_Section):
    """Risk limits checked before every order (prefix ``RISK_``)."""

    model_config = SettingsConfigDict(env_prefix="RISK_", env_file=".env", extra="ignore",
                                      frozen=True)

    max_contracts_per_order: int = Field(default=5, ge=1)
    max_position_contracts: int = Field(default=10, ge=1)
    max_total_contracts: int = Field(default=20, ge=1)
    max_orders_per_minute: int = Field(default=6, ge=1)
    entry_cutoff_minutes: int = Field(default=30, ge=0, description="No entries this close to the close.")
    entry_cutoff_et: str = Field(default="15:00", pattern=r"^\d{2}:\d{2}$",
                                 description="No new 0DTE entries after this New York time.")
    max_quote_age_s: float = Field(default=30.0, gt=0)
    max_post_age_s: float = Field(default=30.0, gt=0,
                                  description="No trade on a post older than this when it was received.")
    max_premium_per_position: float = Field(default=2_000.0, gt=0, description="$ per underlying.")
    max_total_premium: float = Field(default=5_000.0, gt=0, description="$ across all positions.")
    max_daily_loss: float = Field(default=1_000.0, gt=0, description="$; trading stops for the day.")
    limit_band: float = Field(default=0.10, gt=0, le=1, description="Limit within this share of the mid.")
    exchange: str = "XNYS"
    vol_checks: bool = Field(default=True, description="Volatility regime and jump guard checks, "
                                                       "and sizing scaled by vol.")
    allow_stressed: bool = Field(default=False, description="Enter in a stressed regime "
                                                            "(at VOL_MIN_SCALE of the size).")
    allow_halted: bool = Field(default=False, description="Enter in a halted-like regime.")
    halt_after_s: float = Field(default=30.0, gt=0, description="Halted-like after this long "
                                                                "without an underlying price.")
    jump_sigma: float = Field(default=5.0, gt=0, description="A 1-minute move beyond this many "
                                                             "sigmas is a jump.")
    jump_block_s: float = Field(default=300.0, ge=0, description="Entries blocked this long "
                                                                 "after a jump.")
    vol_reference: float = Field(default=0.15, gt=0, le=5, description="Full size at or below "
                                                                       "this annualised vol.")
    vol_min_scale: float = Field(default=0.25, ge=0, le=1, description="The smallest share of "
                                                                       "the size, however high the vol.")


class TradingSettings(_Section):
    """Execution (prefix ``TRADING_``). Paper is the default; live needs this and a flag."""

    model_config = SettingsConfigDict(env_prefix="TRADING_", env_file=".env", extra="ignore",
                                      frozen=True)

    broker: str = Field(default="simulated", description="The venue that trades (streams.venues).")
    mode: str = Field(default="paper", pattern="^(paper|live)$")
    contracts_per_signal: int = Field(default=1, ge=1, description="Used when SIZING=fixed.")
    order_type: str = Field(default="limit", pattern="^(limit|market)$")
    sizing: str = Field(default="premium", pattern="^(fixed|premium|equity_pct)$",
                        description="fixed contracts, a $ premium budget, or a % of equity.")
    premium_budget: float = Field(default=500.0, gt=0, description="$ per entry when SIZING=premium.")
    equity_pct: float = Field(default=0.01, gt=0, le=1, description="Share of equity per entry.")
    strike_mode: str = Field(default="delta", pattern="^(delta|offset)$")
    target_delta: float = Field(default=0.40, gt=0, lt=1)
    delta_band: float = Field(default=0.10, gt=0, lt=1,
                              description="STRIKE_MODE=delta: among the contracts whose |delta| is "
                                          "this close to the target, the most liquid is bought.")
    strike_offset: int = Field(default=0, description="STRIKE_MODE=offset: 0 ATM, +n OTM, -n ITM.")
    min_open_interest: int = Field(default=0, ge=0)
    min_volume: int = Field(default=0, ge=0)
    max_spread_pct: float = Field(default=0.25, gt=0, description="Bid-ask spread as a share of the mid.")
    nearest_expiry: bool = Field(default=True, description="No same-day expiry: use the nearest.")
    profit_target_pct: float = Field(default=0.50, gt=0, description="Exit at +50 % on the premium.")
    stop_loss_pct: float = Field(default=0.30, gt=0, lt=1, description="Exit at -30 %.")
    trailing_stop_pct: float = Field(default=0.20, gt=0, lt=1, description="Exit 20 % below the high.")
    time_exit_et: str = Field(default="15:10", pattern=r"^\d{2}:\d{2}$",
                              description="Close 0DTE positions at this New York time.")
    entry_timeout_s: float = Field(default=60.0, gt=0, description="Cancel an unfilled entry after.")
    exit_reprice_s: float = Field(
        default=60.0, ge=0, description="A profit target resting unfilled this long is sent "
                                        "again at the bid (0: it rests).")
    reconcile_s: float = Field(
        default=60.0, ge=0, description="The owner reconciles with the broker this often "
                                        "(executions it missed, quantities that differ; 0: only at start).")
    tick_s: float = Field(
        default=1.0, ge=0, description="The owner's clock tick: time exits and entry timeouts "
                                       "fire on it when no quote arrives (0: off).")
    exit_max_attempts: int = Field(
        default=6, ge=1, le=50, description="A refused exit is sent again with growing pauses "
                                            "up to this many times; then the position is flagged.")
    stale_position_s: float = Field(
        default=30.0, gt=0, description="A position whose contract's quote is older than this "
                                        "is flagged stale; its time exit goes at market.")
    slippage: float = Field(default=0.01, ge=0, description="$ per contract share, simulated.")
    commission: float = Field(default=0.65, ge=0, description="$ per contract, simulated.")
    sim_latency_ms: float | None = Field(
        default=None, ge=0, description="Simulated broker: event time before an order may fill; "
                                        "unset: BACKTEST_LATENCY_MS in backtests, 0 in the worker.")
    sim_persist: bool = Field(
        default=True, description="Simulated broker: keep the account in Kafka (topic sim-broker) "
                                  "so that it outlives the worker, as a real broker's does.")


    def sim_latency_us(self, backtest: bool) -> int:
        """The simulated broker's order latency, µs: the setting, or when unset
        :data:`BACKTEST_LATENCY_MS` in a backtest and 0 in the worker (the demo's instant fills)."""
        ms = self.sim_latency_ms
        if ms is None:
            ms = BACKTEST_LATENCY_MS if backtest else 0.0
        return int(ms * 1000)


BACKTEST_LATENCY_MS = 70.0
"""A backtest's order latency when ``TRADING_SIM_LATENCY_MS`` is unset: post to order ~45 ms
at p99 as measured here (docs/performance.md) plus ~25 ms from an order's send to Alpaca's
acknowledgement from a close host (DESIGN.md's facts); see docs/configuration.md."""


class WebSettings(_Section):
    """The dashboard, ``stocktracker web`` (prefix ``WEB_``). The token is never logged or shown."""

    model_config = SettingsConfigDict(env_prefix="WEB_", env_file=".env", extra="ignore",
                                      frozen=True)

    host: str = Field(default="127.0.0.1", description="Address the dashboard listens on.")
    port: int = Field(default=8050, ge=1, le=65535)
    token: SecretStr | None = Field(default=None,
                                    description="Needed for control and, unless opened, for the views.")
    read_only_open: bool = Field(default=False,
                                 description="Views and events without the token (control still needs it).")
    cors_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(), description="Other origins allowed to call the API (the page's own always is).")
    emit_interval_ms: float = Field(default=100.0, ge=10, description="Socket.IO events batched this long.")
    status_interval_s: float = Field(default=2.0, gt=0, description="system_status / latency_metrics period.")
    max_batch: int = Field(default=100, ge=1, description="Most items of one event per emit (newest kept).")
    history: int = Field(default=500, ge=10, description="Signals, orders, fills, chart points kept.")
    latency_samples: int = Field(default=5000, ge=100, description="Latency samples per stage kept.")
    replay_records: int = Field(default=2000, ge=0,
                                description="Records per partition read back on start (control: all).")
    latency_budget_ms: float = Field(default=200.0, gt=0, description="Post-to-order budget shown.")
    skill_interval_s: float = Field(default=10.0, gt=0,
                                    description="How often the model skill panel is recomputed.")
    skill_window_s: float = Field(default=3600.0, gt=0,
                                  description="Posts (event time) the model skill is measured over.")

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            value = tuple(t.strip().rstrip("/") for t in value.split(",") if t.strip())
        if isinstance(value, tuple | list) and "*" in value:
            raise ValueError("'*' is not allowed: name the origins")
        return value


class AlertSettings(_Section):
    """The alert monitor (prefix ``ALERT_``): which rules, their thresholds, the webhooks.

    The monitor runs in the dashboard (``stocktracker web``) or alone (``stocktracker
    alerts``); run exactly one with ``ALERT_ENABLED`` true per deployment. Every rule's
    runbook entry is in ``docs/operations.md``.
    """

    model_config = SettingsConfigDict(env_prefix="ALERT_", env_file=".env", extra="ignore",
                                      frozen=True)

    enabled: bool = Field(default=True, description="Evaluate the rules in this process.")
    rules: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("all",), description="Rules evaluated (comma-separated names, or all).")
    eval_interval_s: float = Field(default=5.0, gt=0, description="How often the rules run.")
    warmup_s: float = Field(default=15.0, ge=0,
                            description="No rule runs this long after start (health comes every 10 s).")
    window_s: float = Field(default=300.0, gt=0,
                            description="Window of the error rates (LLM, broker).")
    webhook_url: SecretStr | None = Field(default=None,
                                          description="Generic JSON webhook (POST).")
    slack_webhook_url: SecretStr | None = Field(default=None,
                                                description="Slack incoming webhook (POST).")
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    webhook_retries: int = Field(default=3, ge=0, description="Tries again after a failure.")
    rate_limit_per_minute: int = Field(default=20, ge=1,
                                       description="Webhook messages a minute at most.")
    source: str = Field(default="stocktracker", description="Names this deployment in messages.")
    source_down_s: float = Field(default=60.0, ge=0)
    worker_missing_s: float = Field(default=30.0, ge=0)
    latency_hold_s: float = Field(default=60.0, ge=0)
    component_silent_s: float = Field(default=60.0, gt=0)
    no_posts_s: float = Field(default=600.0, gt=0)
    latency_budget_ms: float = Field(default=200.0, gt=0)
    latency_min_samples: int = Field(default=5, ge=1)
    llm_error_ratio: float = Field(default=0.5, gt=0, le=1)
    llm_min_calls: int = Field(default=5, ge=1)
    broker_errors: int = Field(default=3, ge=1)
    orders_factor: float = Field(default=5.0, gt=1)
    orders_floor: int = Field(default=10, ge=1)
    daily_loss_levels: Annotated[tuple[float, ...], NoDecode] = Field(
        default=(50.0, 80.0, 100.0), description="% of RISK_MAX_DAILY_LOSS told at.")
    lag_min: int = Field(default=1000, ge=0)
    lag_probes: int = Field(default=5, ge=1)
    fill_grace_s: float = Field(default=30.0, ge=0)

    @field_validator("rules", mode="before")
    @classmethod
    def _rules(cls, value: object) -> object:
        from stocktracker.domain.alert_rules import RULE_NAMES

        value = comma_separated(value)
        if isinstance(value, tuple | list):
            unknown = sorted(set(value) - set(RULE_NAMES) - {"all"})
            if unknown:
                raise ValueError(f"unknown rule(s) {', '.join(unknown)}; known: "
                                 f"{', '.join(RULE_NAMES)}, all")
        return value

    @field_validator("daily_loss_levels", mode="before")
    @classmethod
    def _levels(cls, value: object) -> object:
        return comma_separated(value)

    def enabled_rules(self) -> tuple[str, ...]:
        """The rules to run."""
        from stocktracker.domain.alert_rules import RULE_NAMES

        return RULE_NAMES if "all" in self.rules else tuple(self.rules)

    def limits(self) -> AlertLimits:
        """The thresholds as the rules take them."""
        from stocktracker.domain.alert_rules import AlertLimits

        names = AlertLimits.__dataclass_fields__
        return AlertLimits(**{name: getattr(self, name) for name in names})


class Settings(BaseSettings):
    """Every section, built once at start-up."""

    model_config = SettingsConfigDict(frozen=True)

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    stream: StreamSettings = Field(default_factory=StreamSettings)
    signal: SignalSettings = Field(default_factory=SignalSettings)
    sentiment: SentimentSettings = Field(default_factory=SentimentSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    market_import: ImportSettings = Field(default_factory=ImportSettings)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    trading: TradingSettings = Field(default_factory=TradingSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    alert: AlertSettings = Field(default_factory=AlertSettings)


# The sections of this floor; each venue's own (``streams.venues.VENUE_SETTINGS``) are
# added by the commands that read the environment.
SECTIONS: tuple[type[BaseSettings], ...] = (
    KafkaSettings, StreamSettings, SignalSettings, SentimentSettings, IngestSettings,
    ImportSettings, RiskSettings, TradingSettings, WebSettings, AlertSettings,
)
# Variables of Kafka's own scripts and JVM that share our prefix.
FOREIGN = frozenset({"KAFKA_OPTS", "KAFKA_HEAP_OPTS", "KAFKA_JVM_PERFORMANCE_OPTS",
                     "KAFKA_LOG4J_OPTS", "KAFKA_JMX_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_DEBUG"})


class UnknownSettingError(ValueError):
    """A variable with one of our prefixes that no setting reads (usually a typo)."""


def _prefix(section: type[BaseSettings]) -> str:
    return str(section.model_config.get("env_prefix", "")).upper()


def unknown_keys(names: Iterable[str], sections: Iterable[type[BaseSettings]] = SECTIONS) -> list[str]:
    """The names with one of the sections' prefixes that match no setting."""
    sections = tuple(sections)
    known = {f"{_prefix(section)}{field}".upper() for section in sections for field in section.model_fields}
    prefixes = {_prefix(section) for section in sections}
    return sorted(n for n in names if n.upper() not in known and n.upper() not in FOREIGN
                  and any(n.upper().startswith(prefix) for prefix in prefixes))


def load_settings(env_file: Path = Path(".env"),
                  sections: Iterable[type[BaseSettings]] = SECTIONS) -> Settings:
    """Read every section from the environment and `.env`.

    Raises :class:`UnknownSettingError` naming any variable with the ``sections``' prefixes
    that none of them reads, and pydantic's ValidationError naming a key whose value is
    wrong. The venues' sections are read by their own factories; pass them in ``sections``
    so that a typo in their names is refused too.
    """
    names = set(os.environ)
    if env_file.is_file():
        names |= set(dotenv_values(env_file))
    unknown = unknown_keys(names, sections)
    if unknown:
        raise UnknownSettingError(f"unknown setting(s): {', '.join(unknown)} "
                                  "(see .env.example for every setting)")
    return Settings()
