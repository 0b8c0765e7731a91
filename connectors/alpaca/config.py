"""Alpaca's settings (prefix ``ALPACA_``), read by this venue's factory, never logged."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlpacaSettings(BaseSettings):
    """Alpaca credentials (prefix ``ALPACA_``); never logged."""

    model_config = SettingsConfigDict(env_prefix="ALPACA_", env_file=".env", extra="ignore",
                                      frozen=True)

    api_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    trading_url: str | None = Field(default=None, description="Override of the trading API host (tests).")
    data_url: str | None = Field(default=None, description="Override of the market data API host.")
    stream_url: str | None = Field(default=None, description="Override of the trade-updates websocket.")
    options_feed: str = Field(default="indicative", pattern="^(indicative|opra)$",
                              description="indicative: free, delayed; opra: real time (subscription).")
    data_stream_url: str | None = Field(
        default=None, description="Override of the market-data websockets' host (tests); "
        "options at {url}/v1beta1/{options_feed}, stocks at {url}/v2/{stock_feed}.")
    stock_feed: str = Field(default="iex", pattern="^(iex|sip|delayed_sip)$",
                            description="Stock quotes stream: iex (free), sip (subscription).")
    stream_quotes: bool = Field(default=True, description="Stream option and stock quotes "
                                "(held and near-the-money contracts) besides the REST refresh.")
    stream_strikes: int = Field(default=3, ge=0, description="Strikes each side of the spot "
                                "whose calls and puts are streamed (held contracts always are).")
    stream_sync_s: float = Field(default=1.0, gt=0, description="How often the streamed "
                                 "contracts are recomputed from positions and the chain.")
    requests_per_minute: int = Field(default=200, ge=1, description="Alpaca's REST rate limit.")
    chain_refresh_s: float = Field(default=10.0, gt=0, description="Chain snapshot refresh period.")
    max_retries: int = Field(default=3, ge=0, description="Retries on 429/5xx/timeouts (same order id).")
    timeout_s: float = Field(default=5.0, gt=0, description="Per REST call.")
    poll_interval_s: float = Field(default=2.0, gt=0, description="Order polling while the stream is down.")
