"""Runtime settings, read from ``AICMO_*`` environment variables (and a ``.env`` file).

One object describes where the store and the lake live and how each phase behaves, so a
scheduled run, a manual run from the Prefect UI and a backfill all see the same values.
"""

from __future__ import annotations

import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aicmo.errors import ConfigError


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
    anomaly_z_threshold: float = Field(
        4.5,
        gt=0,
        description="Robust z beyond which a day is flagged: about one false alarm per metric per quarter "
        "at most, the injected bounce spike always found (docs/ANALYTICS.md).",
    )


SNS_ORIGIN_PATTERN = r"^https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$"
"""Where Amazon SNS signing certificates and subscription URLs may come from (scheme://host)."""


class TrackingSettings(BaseSettings):
    """The tracking service (phase 2): public URL, token keys, spool, flusher, webhook secrets."""

    model_config = SettingsConfigDict(env_prefix="AICMO_TRACKING_", extra="ignore")

    base_url: str = Field(
        "http://127.0.0.1:8700",
        description="Public base URL of the service as recipients and providers reach it (behind a proxy: the proxy's).",
    )
    keys: list[SecretStr] = Field(
        default_factory=lambda: [SecretStr("aicmo-dev-tracking-key-change-me")],
        description="HMAC keys of tracking tokens, newest first: the first signs, every one verifies.",
    )
    spool_dir: Path | None = Field(None, description="Folder of the durable spool; default home/spool.")
    flush_interval_s: float = Field(2.0, gt=0, description="Longest time an event waits in the spool.")
    flush_batch: int = Field(5000, ge=1, description="Events that trigger a flush before the interval.")
    segment_bytes: int = Field(16 << 20, ge=4096, description="Size at which a spool segment is sealed.")
    body_cap_bytes: int = Field(1 << 20, ge=1024, description="Largest webhook body accepted.")
    timestamp_tolerance_s: int = Field(300, ge=1, description="Oldest signed webhook timestamp accepted.")
    scanner_window_s: float = Field(
        10.0, ge=0, description="A click this soon after delivery, or all links at once, is a scanner's."
    )
    sendgrid_public_key: str | None = Field(
        None, description="SendGrid Event Webhook verification key (base64 DER ECDSA P-256)."
    )
    mailgun_signing_key: SecretStr | None = None
    postmark_username: str | None = None
    postmark_password: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    standard_webhooks_secret: SecretStr | None = Field(
        None, description="Standard Webhooks signing secret (whsec_...)."
    )
    sns_topic_arns: list[str] = Field(
        default_factory=list, description="SNS topics accepted for SES notifications (empty: any)."
    )
    sns_origin_pattern: str = Field(
        SNS_ORIGIN_PATTERN,
        description="Regex on scheme://host[:port] of SNS certificate and subscribe URLs.",
    )

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @field_validator("keys")
    @classmethod
    def _check_keys(cls, value: list[SecretStr]) -> list[SecretStr]:
        if not value or any(len(k.get_secret_value()) < 16 for k in value):
            raise ValueError("give at least one key of 16 or more characters")
        return value


class Settings(BaseSettings):
    """Top-level settings: where things live, plus each phase's section."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", env_file=".env", extra="ignore")

    home: Path = Field(Path(".aicmo"), description="Root folder for the SQLite store, lake and artifacts.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default is SQLite under home.")
    lake_root: str | None = Field(
        None, description="Path or fsspec URL of the Parquet lake; default home/lake."
    )
    hmac_key: SecretStr | None = Field(
        None,
        description=(
            "Key of the suppression HMACs and erasure tombstones; unset, a random key is generated once "
            "per installation in home/hmac.key (mode 0600). Every worker sharing a store needs the same key."
        ),
    )
    enrichment_ttl_days: int = Field(30, ge=1)
    batch_size: int = Field(5000, ge=1)

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    providers: ProviderCredentials = Field(default_factory=ProviderCredentials)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if "://" not in value:
            raise ValueError(f"not a database URL (expected e.g. sqlite:///file.db): {value!r}")
        backend = value.split("://", 1)[0].split("+", 1)[0].lower()
        if backend not in ("sqlite", "postgresql", "postgres"):
            raise ValueError(f"unsupported database {backend!r}: use sqlite:///path.db or postgresql://...")
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

    def resolved_hmac_key(self) -> str:
        """The HMAC key: the configured one, else this installation's key file (created on first use)."""
        if self.hmac_key is not None and self.hmac_key.get_secret_value():
            return self.hmac_key.get_secret_value()
        return installation_key(self.home / HMAC_KEY_FILE)

    @property
    def spool_dir(self) -> Path:
        """The tracking service's durable spool folder."""
        return self.tracking.spool_dir or self.home / "spool"

    @property
    def artifacts_dir(self) -> Path:
        """Where plots and exported reports are written."""
        return self.home / "artifacts"


HMAC_KEY_FILE = "hmac.key"


def installation_key(path: Path) -> str:
    """The key stored at ``path``, created with 256 random bits and mode 0600 when there is none.

    Creation is exclusive (``O_EXCL``), so two processes starting at once agree on one key.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key(path)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return _read_key(path)


def _read_key(path: Path) -> str:
    for _ in range(50):  # a concurrent creator may not have written it yet
        key = path.read_text().strip()
        if key:
            return key
        time.sleep(0.01)
    raise ConfigError(f"{path}: the HMAC key file is empty; restore it from a backup or set AICMO_HMAC_KEY")


SETTINGS_PREFIXES: dict[str, str] = {
    cls.__name__: str(cls.model_config.get("env_prefix", ""))
    for cls in (Settings, GatewaySettings, ProviderCredentials, AnalyticsSettings, TrackingSettings)
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change env vars)."""
    get_settings.cache_clear()
