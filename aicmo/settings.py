"""Runtime settings, read from ``AICMO_*`` environment variables (and a ``.env`` file).

One object describes where the store and the lake live and how each phase behaves, so a
scheduled run, a manual run from the Prefect UI and a backfill all see the same values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class PublishingSettings(BaseSettings):
    """Channels' servers and credentials, the sender's pace and the frequency cap (phase 2); secrets never logged."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", extra="ignore")

    smtp_host: str = Field("127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(8025, ge=1, le=65535, description="SMTP relay port.")
    smtp_user: str | None = Field(None, description="SMTP AUTH user (auth only when set).")
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_connections: int = Field(
        2, ge=1, le=16, description="SMTP connections a sender keeps open and reuses."
    )
    smtp_validate_certs: bool = Field(True, description="Check the SMTP server's TLS certificate.")
    smtp_timeout_s: float = Field(30.0, gt=0)
    mail_from: str = Field("AICMO <news@example.com>", description="From: of campaign email.")
    unsubscribe_mailto: str = Field("unsubscribe@example.com", description="mailto: of List-Unsubscribe.")
    postal_address: str = Field(
        "AICMO, 1 Example Street, 00000 Example City",
        description="Sender's postal address, printed in every email's footer (CAN-SPAM).",
    )
    tracking_base_url: str = Field(
        "http://127.0.0.1:8000", description="Base of open/click/unsubscribe links."
    )
    rate_limit_per_s: float = Field(200.0, gt=0, description="Default per-campaign send rate per channel.")
    frequency_cap: int = Field(
        3, ge=0, description="Marketing messages per contact and channel per window (0: no cap)."
    )
    frequency_window_h: float = Field(24.0, gt=0, description="The frequency cap's rolling window, hours.")
    claim_batch: int = Field(200, ge=1, description="Ledger rows a sender claims at once.")
    lease_s: float = Field(120.0, gt=0, description="How long a claim holds before the reaper frees it.")
    handover_window: int = Field(
        20, ge=1, description="Messages marked handed per commit (max unknown after a crash)."
    )
    retry_backoff_s: float = Field(5.0, ge=0, description="First wait after a transient failure (doubles).")
    senders_per_campaign: int = Field(1, ge=1, description="Prefect concurrency slots per campaign.")
    max_attempts: int = Field(
        5, ge=1, description="Transient failures of a row before it is failed permanently."
    )
    vapid_private_key: SecretStr | None = Field(None, description="VAPID private key (PEM or base64url).")
    vapid_subject: str = Field("mailto:ops@example.com", description="VAPID 'sub' claim.")
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = Field(None, description="Sending number (E.164) or messaging service.")
    twilio_base_url: str = "https://api.twilio.com"
    fcm_project_id: str | None = None
    fcm_access_token: SecretStr | None = Field(None, description="OAuth 2 bearer token for FCM HTTP v1.")
    fcm_base_url: str = "https://fcm.googleapis.com"
    mastodon_base_url: str | None = None
    mastodon_access_token: SecretStr | None = None
    webhook_secret: SecretStr | None = Field(None, description="Standard Webhooks secret (whsec_...).")


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
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)

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
    for cls in (Settings, GatewaySettings, ProviderCredentials, AnalyticsSettings, PublishingSettings)
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change env vars)."""
    get_settings.cache_clear()
