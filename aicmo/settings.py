"""Runtime settings, read from ``AICMO_*`` environment variables (and a ``.env`` file).

One object describes where the store and the lake live and how each phase behaves, so a
scheduled run, a manual run from the Prefect UI and a backfill all see the same values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderLimit(BaseModel):
    """Requests per second (None: unlimited) and calls in flight (None: unlimited) of one provider."""

    rps: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1)


class GatewaySettings(BaseSettings):
    """Resilience knobs of the provider gateway (phase 0)."""

    model_config = SettingsConfigDict(env_prefix="AICMO_GATEWAY_", extra="ignore")

    timeout_s: float = Field(5.0, gt=0, description="Per-request timeout in seconds.")
    max_attempts: int = Field(4, ge=1, le=20, description="Tries per provider before failing over.")
    backoff_base_s: float = Field(0.2, ge=0, description="Base of the exponential backoff (full jitter).")
    backoff_max_s: float = Field(10.0, ge=0, description="Cap on one backoff sleep.")
    retry_after_cap_s: float = Field(
        30.0, ge=0, description="Longest Retry-After honoured before failing over."
    )
    breaker_failure_threshold: int = Field(5, ge=1, description="Consecutive failures that open a breaker.")
    breaker_reset_s: float = Field(30.0, gt=0, description="Time an open breaker waits before half-opening.")
    concurrency: int = Field(50, ge=1, description="Calls in flight at once in one batch.")
    cache_ttl_s: int = Field(7 * 86400, ge=0, description="TTL of a cached positive answer.")
    negative_cache_ttl_s: int = Field(86400, ge=0, description="TTL of a cached 'not found'.")
    provider_limits: dict[str, ProviderLimit] = Field(
        default_factory=dict,
        description=(
            "Client-side rate limits by provider, overriding the published defaults; JSON, e.g. "
            '{"github": {"rps": 5, "concurrency": 4}} (the local fake server raises them).'
        ),
    )


class ProviderCredentials(BaseSettings):
    """API keys and base URLs of the real providers; never logged."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", extra="ignore")

    stripe_api_key: SecretStr | None = None
    stripe_base_url: str = "https://api.stripe.com"
    github_token: SecretStr | None = None
    github_base_url: str = "https://api.github.com"
    openweather_api_key: SecretStr | None = None
    openweather_base_url: str = "https://api.openweathermap.org"
    company_api_key: SecretStr | None = None
    company_base_url: str = "https://company.clearbit.com"
    provider_secret_blocks: bool = Field(
        False,
        description=(
            "Read a credential missing from the environment from its Prefect Secret block "
            "(aicmo-stripe-api-key, ...), so a deployment keeps its keys in Prefect."
        ),
    )


class AnalyticsSettings(BaseSettings):
    """Weights and thresholds of phase 3 analytics."""

    model_config = SettingsConfigDict(env_prefix="AICMO_ANALYTICS_", extra="ignore")

    engagement_weights: dict[str, float] = Field(
        default_factory=lambda: {
            "deliver": 0.0,
            "open": 1.0,
            "click": 3.0,
            "convert": 10.0,
            "unsubscribe": -5.0,
            "complaint": -10.0,
            "bounce": -1.0,
        }
    )
    engagement_half_life_days: float = Field(30.0, gt=0)
    attribution_lookback_days: int = Field(30, ge=1)
    time_decay_half_life_days: float = Field(7.0, gt=0)
    tier_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"silver": 100.0, "gold": 500.0, "platinum": 2000.0}
    )
    ltv_horizon_days: int = Field(365, ge=1)
    ltv_discount_rate_annual: float = Field(0.10, ge=0)
    anomaly_z_threshold: float = Field(3.5, gt=0)


class Settings(BaseSettings):
    """Top-level settings: where things live, plus each phase's section."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".aicmo"), description="Root folder for the SQLite store, lake and artifacts.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite under home.")
    lake_root: str | None = Field(
        None, description="Path or fsspec URL of the Parquet lake; default home/lake."
    )
    hmac_key: SecretStr = Field(
        SecretStr("aicmo-dev-erasure-key-change-me"),
        description="Key of the HMAC tombstones kept for erased contacts.",
    )
    enrichment_ttl_days: int = Field(30, ge=1)
    batch_size: int = Field(5000, ge=1)

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    providers: ProviderCredentials = Field(default_factory=ProviderCredentials)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" not in value:
            raise ValueError(f"not a database URL (expected e.g. sqlite:///file.db): {value!r}")
        return value

    @model_validator(mode="after")
    def _absolute_home(self) -> Settings:
        self.home = self.home.expanduser().resolve()
        return self

    @property
    def resolved_database_url(self) -> str:
        """The store's URL: the configured one, or a SQLite file under home."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'aicmo.db'}"

    @property
    def resolved_lake_root(self) -> str:
        """The lake's root as a path string or fsspec URL."""
        return self.lake_root or str(self.home / "lake")

    @property
    def artifacts_dir(self) -> Path:
        """Where plots and exported reports are written."""
        return self.home / "artifacts"


SETTINGS_PREFIXES: dict[str, str] = {
    cls.__name__: str(cls.model_config.get("env_prefix", ""))
    for cls in (Settings, GatewaySettings, ProviderCredentials, AnalyticsSettings)
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change env vars)."""
    get_settings.cache_clear()
