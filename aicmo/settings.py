"""Runtime settings, read from ``AICMO_*`` environment variables (and a ``.env`` file).

One object describes where the store and the lake live and how each phase behaves, so a
scheduled run, a manual run from the Prefect UI and a backfill all see the same values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
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


class ChannelSpec(BaseModel):
    """What a channel accepts from a creative: dimensions, aspect ratio, file size, and its variants."""

    min_width: int = Field(1, ge=1)
    min_height: int = Field(1, ge=1)
    max_width: int | None = Field(None, ge=1)
    max_height: int | None = Field(None, ge=1)
    min_aspect: float = Field(0.0, ge=0, description="Lowest width / height accepted.")
    max_aspect: float = Field(100.0, gt=0, description="Highest width / height accepted.")
    max_bytes: int = Field(5_000_000, ge=1)
    widths: list[int] = Field(default_factory=lambda: [320, 640], description="Responsive variant widths.")
    format: Literal["webp", "avif", "jpeg"] = Field("webp", description="Variant encoding (avif falls back).")
    quality: int = Field(80, ge=1, le=100)


def _default_channel_specs() -> dict[str, ChannelSpec]:
    return {
        # Email clients render a 600 px column; 2x for high-density screens; Gmail clips big messages.
        "email": ChannelSpec(min_width=600, max_width=2400, min_aspect=0.5, max_aspect=4.0,
                             max_bytes=1_000_000, widths=[600, 1200], format="jpeg"),
        # Android's big-picture notification is 2:1; FCM refuses images over 1 MB.
        "push": ChannelSpec(min_width=512, min_height=256, min_aspect=1.5, max_aspect=2.5,
                            max_bytes=1_000_000, widths=[512, 1024], format="jpeg"),
        # Chrome shows web-push images at 3:2 (1350x900 recommended).
        "web_push": ChannelSpec(min_width=720, min_height=480, min_aspect=1.2, max_aspect=2.0,
                                max_bytes=1_000_000, widths=[720, 1350], format="webp"),
        # A social post image: portrait 4:5 up to the 1.91:1 link card, 1080 px wide.
        "social": ChannelSpec(min_width=600, min_height=315, min_aspect=0.8, max_aspect=1.91,
                              max_bytes=8_000_000, widths=[600, 1080], format="webp"),
    }  # fmt: skip


class MediaSettings(BaseSettings):
    """Media library (phase 4): ingest limits, URL fetching, near-duplicates, suggestions, channel specs."""

    model_config = SettingsConfigDict(env_prefix="AICMO_MEDIA_", extra="ignore")

    store_url: str | None = Field(
        None, description="Path or fsspec URL of the asset store; default home/media."
    )
    max_bytes: int = Field(50_000_000, ge=1, description="Largest file accepted, in bytes.")
    max_image_pixels: int = Field(
        40_000_000, ge=1, description="Largest image accepted (decompression bombs)."
    )
    accepted_formats: list[str] = Field(
        default_factory=lambda: ["JPEG", "PNG", "GIF", "WEBP"], description="Pillow formats accepted."
    )
    fetch_timeout_s: float = Field(
        10.0, gt=0, description="Timeout of a URL fetch (connect, each read, total)."
    )
    fetch_max_redirects: int = Field(5, ge=0)
    fetch_allowed_ips: list[str] = Field(
        default_factory=list,
        description="Addresses or networks allowed despite being private/loopback (e.g. 127.0.0.1 in tests).",
    )
    dupe_distance: int = Field(
        18,
        ge=0,
        le=128,
        description="Largest pHash + dHash Hamming distance (of 128 bits) of a near-duplicate.",
    )
    min_exposures: int = Field(200, ge=1, description="Deliveries an asset needs before it is judged.")
    fatigue_window_days: int = Field(
        28, ge=2, description="Recent days of exposures the fatigue test looks at."
    )
    fatigue_z: float = Field(2.33, gt=0, description="One-sided z of the CTR trend test (2.33: 1%).")
    fatigue_min_drop: float = Field(0.2, ge=0, le=1, description="Relative CTR drop that counts as fatigue.")
    confidence_z: float = Field(1.96, gt=0, description="z of the Wilson intervals (1.96: 95%).")
    workers: int = Field(2, ge=1, description="Processes for hashing and variants.")
    thumbnail_px: int = Field(256, ge=16, description="Longest side of a thumbnail.")
    channel_specs: dict[str, ChannelSpec] = Field(default_factory=_default_channel_specs)


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
    media: MediaSettings = Field(default_factory=MediaSettings)

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
    def resolved_media_store(self) -> str:
        """The asset store's root as a path string or fsspec URL."""
        return self.media.store_url or str(self.home / "media")

    @property
    def artifacts_dir(self) -> Path:
        """Where plots and exported reports are written."""
        return self.home / "artifacts"


SETTINGS_PREFIXES: dict[str, str] = {
    cls.__name__: str(cls.model_config.get("env_prefix", ""))
    for cls in (Settings, GatewaySettings, ProviderCredentials, AnalyticsSettings, MediaSettings)
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change env vars)."""
    get_settings.cache_clear()
