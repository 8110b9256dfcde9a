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
from typing import Literal

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aicmo.errors import ConfigError


class ProviderLimit(BaseModel):
    """Requests per second (None: unlimited) and calls in flight (None: unlimited) of one provider."""

    rps: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1)


class GatewaySettings(BaseSettings):
    """Resilience knobs of the provider gateway (phase 0)."""

    model_config = SettingsConfigDict(env_prefix="AICMO_GATEWAY_", extra="ignore")

    timeout_s: float = Field(
        5.0, gt=0, description="Longest wait for a connection or for the next bytes of an answer (idle time)."
    )
    attempt_deadline_s: float = Field(
        10.0,
        gt=0,
        description="Longest one attempt at a provider may take in all, however steadily its body trickles in.",
    )
    call_deadline_s: float = Field(
        30.0, gt=0, description="Longest one lookup may take across retries and failover to later providers."
    )
    failover_policy: Literal["retry", "fail_fast", "hedged"] = Field(
        "retry",
        description=(
            "retry: retry a provider with backoff before moving on; fail_fast: on a transient error "
            "ask the next provider at once (the first is asked again on the next lookup); hedged: "
            "fail_fast, and also ask the next provider when the current one is silent for hedge_after_s."
        ),
    )
    hedge_after_s: float = Field(
        0.1,
        gt=0,
        description="Under the hedged policy: how long to wait for a provider before asking the next too.",
    )
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
    attribution_markov_order: int = Field(
        1,
        ge=1,
        le=4,
        description="Touches a Markov attribution state remembers (ChannelAttribution's order).",
    )
    tier_thresholds: dict[str, float] = Field(
        default_factory=lambda: {"silver": 100.0, "gold": 500.0, "platinum": 2000.0}
    )
    ltv_horizon_days: int = Field(365, ge=1)
    ltv_discount_rate_annual: float = Field(0.10, ge=0)
    ltv_purchase_model: Literal["bgnbd", "mbgnbd", "auto"] = Field(
        "auto",
        description="Purchase model of the LTV: BG/NBD, MBG/NBD, or auto (the one with the smaller "
        "calibration/holdout error, BG/NBD unless MBG/NBD does better).",
    )
    ltv_holdout_days: int = Field(
        90, ge=7, description="Holdout period of the calibration/holdout check that 'auto' chooses by."
    )
    ltv_spend_excludes_zero_orders: bool = Field(
        False,
        description="Leave zero-value purchases out of Gamma-Gamma's spend (they always count as "
        "purchases for frequency, recency and T).",
    )
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
        default_factory=list,
        description=(
            "HMAC keys of tracking tokens, newest first: the first signs, every one verifies. Unset, a random "
            "key is generated once per installation in home/tracking.key (mode 0600)."
        ),
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
        if any(len(k.get_secret_value()) < 16 for k in value):
            raise ValueError("every key needs 16 or more characters")
        return value


class CurrencySettings(BaseSettings):
    """The one reporting currency that orders (LTV, RFM, revenue) and ad spend are converted to, and
    where the exchange rates come from. Shared by analytics and ads so both add up the same money;
    the ``AICMO_ADS_*`` names that ads documented first still work."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", extra="ignore", populate_by_name=True)

    reporting_currency: str = Field(
        "USD",
        min_length=3,
        max_length=3,
        validation_alias=AliasChoices(
            "reporting_currency", "AICMO_REPORTING_CURRENCY", "AICMO_ADS_REPORTING_CURRENCY"
        ),
        description="ISO code every amount is converted to.",
    )
    rates_file: Path | None = Field(
        None,
        validation_alias=AliasChoices("rates_file", "AICMO_RATES_FILE", "AICMO_ADS_RATES_FILE"),
        description="CSV of exchange rates: date, currency, rate (to the reporting currency); "
        "default home/rates.csv when it exists and no rates URL is set.",
    )
    rates_url: str | None = Field(
        None,
        validation_alias=AliasChoices("rates_url", "AICMO_RATES_URL", "AICMO_ADS_RATES_URL"),
        description="Frankfurter server for daily ECB rates through the gateway (e.g. https://api.frankfurter.app).",
    )

    @field_validator("reporting_currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        if not value.isalpha():
            raise ValueError(f"not an ISO currency code: {value!r}")
        return value.upper()


class AdsSettings(BaseSettings):
    """Paid ads (phase 2): date style, pacing and allocation knobs, platform APIs (currency: ``CurrencySettings``)."""

    model_config = SettingsConfigDict(env_prefix="AICMO_ADS_", extra="ignore")

    day_first: bool = Field(False, description="Read ambiguous dates such as 03/11/2026 day-first.")
    pacing_tolerance: float = Field(0.10, ge=0, le=1, description="Pacing off by more than this is flagged.")
    exploration_floor: float = Field(
        0.05, ge=0, le=1, description="Share of the daily budget each ad set keeps at least."
    )
    max_share: float = Field(0.60, gt=0, le=1, description="Largest share of the budget one ad set may get.")
    prior_strength: float = Field(
        50.0, ge=0, description="Clicks' worth of the campaign mean that bid estimates are shrunk toward."
    )
    apply_changes: bool = Field(
        False,
        description=(
            "Let the ads flow (a step of the daily pipeline) set the day's allocated budgets on Meta and "
            "Google Ads; off, it logs them as a dry run."
        ),
    )
    meta_base_url: str = "https://graph.facebook.com/v21.0"
    meta_access_token: SecretStr | None = None
    google_ads_base_url: str = "https://googleads.googleapis.com/v18"
    google_ads_developer_token: SecretStr | None = None
    google_ads_access_token: SecretStr | None = None
    google_ads_login_customer_id: str | None = None


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


class PublishingSettings(BaseSettings):
    """Channels' servers and credentials, the sender's pace and the frequency cap (phase 2); secrets never logged."""

    model_config = SettingsConfigDict(env_prefix="AICMO_", extra="ignore")

    smtp_host: str = Field("127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(8025, ge=1, le=65535, description="SMTP relay port.")
    smtp_user: str | None = Field(None, description="SMTP AUTH user (auth only when set).")
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_connections: int = Field(
        4,
        ge=1,
        le=16,
        description="SMTP connections a sender keeps open and reuses (more for a relay far away:"
        " each message costs four round trips on its connection).",
    )
    smtp_validate_certs: bool = Field(True, description="Check the SMTP server's TLS certificate.")
    smtp_timeout_s: float = Field(30.0, gt=0)
    mail_from: str = Field("AICMO <news@example.com>", description="From: of campaign email.")
    unsubscribe_mailto: str = Field("unsubscribe@example.com", description="mailto: of List-Unsubscribe.")
    postal_address: str = Field(
        "AICMO, 1 Example Street, 00000 Example City",
        description="Sender's postal address, printed in every email's footer (CAN-SPAM).",
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


class RetentionSettings(BaseSettings):
    """How long data is kept: lake partitions per table, personal data in raw events, caches, run logs."""

    model_config = SettingsConfigDict(env_prefix="AICMO_RETENTION_", extra="ignore")

    lake_days: dict[str, int] = Field(
        default_factory=lambda: {"events": 1095, "event_quality": 400},
        description=(
            'Days a lake table\'s partitions are kept, per table (JSON, e.g. {"events": 1095}); '
            "tables not named are kept for ever."
        ),
    )
    event_personal_days: int | None = Field(
        395,
        ge=1,
        description=(
            "Age in days after which raw events lose their contact id, clicked URL and provider event id; "
            "KPIs and other aggregates stay. Unset: never."
        ),
    )
    provider_cache_days: int = Field(
        30, ge=1, description="Provider answers fetched longer ago are pruned (expired ones always)."
    )
    run_log_days: int = Field(
        180, ge=1, description="Finished pipeline-run records older than this are pruned."
    )
    ledger_days: int = Field(
        400, ge=1, description="Send-ledger rows of campaigns sent or cancelled longer ago are pruned."
    )

    @field_validator("lake_days")
    @classmethod
    def _positive_days(cls, value: dict[str, int]) -> dict[str, int]:
        bad = sorted(table for table, days in value.items() if days < 1)
        if bad:
            raise ValueError(f"days must be at least 1 (got {', '.join(f'{t}={value[t]}' for t in bad)})")
        return value


class AlertSettings(BaseSettings):
    """What the pipeline reports to Prefect as over a threshold, and where Prefect's automations send alerts."""

    model_config = SettingsConfigDict(env_prefix="AICMO_ALERT_", extra="ignore")

    webhook_url: SecretStr | None = Field(
        None, description="URL the alert automations POST to (a chat or paging webhook); unset: the UI only."
    )
    failover_rate: float = Field(
        0.2, ge=0, le=1, description="Share of provider calls that failed over to the next provider."
    )
    enrichment_stalled_hours: float = Field(
        30.0, gt=0, description="Alert when no enrichment run has completed for this long."
    )
    publish_error_rate: float = Field(
        0.05, ge=0, le=1, description="Share of a campaign's settled messages that failed or are unknown."
    )
    analytics_step_budget_s: float = Field(
        1800.0, ge=10, description="Alert when an analytics step runs longer than this (seconds)."
    )
    library_size: int = Field(100_000, ge=1, description="Alert when the media library holds more assets.")


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
    task_runner: Literal["threads", "dask"] = Field(
        "threads",
        description=(
            "Where flows run their fanned-out tasks: Prefect's thread pool in the flow's process, or a "
            "Dask cluster (the dask extra): AICMO_DASK_ADDRESS's, else a local one per flow run."
        ),
    )
    dask_address: str | None = Field(
        None, description="Scheduler of a running Dask cluster (tcp://host:8786) for AICMO_TASK_RUNNER=dask."
    )
    dask_workers: int = Field(2, ge=1, description="Worker processes of the local Dask cluster (no address).")
    fanout_chunk_days: int = Field(
        31, ge=1, description="Day partitions per fanned-out KPI task (one task per chunk of days)."
    )

    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    providers: ProviderCredentials = Field(default_factory=ProviderCredentials)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    tracking: TrackingSettings = Field(default_factory=TrackingSettings)
    ads: AdsSettings = Field(default_factory=AdsSettings)
    currency: CurrencySettings = Field(default_factory=CurrencySettings)
    media: MediaSettings = Field(default_factory=MediaSettings)
    publishing: PublishingSettings = Field(default_factory=PublishingSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

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
        default_rates = self.home / DEFAULT_RATES_FILE
        if self.currency.rates_file is None and self.currency.rates_url is None and default_rates.is_file():
            self.currency.rates_file = default_rates
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
    def resolved_media_store(self) -> str:
        """The asset store's root as a path string or fsspec URL."""
        return self.media.store_url or str(self.home / "media")

    @property
    def artifacts_dir(self) -> Path:
        """Where plots and exported reports are written."""
        return self.home / "artifacts"


HMAC_KEY_FILE = "hmac.key"
DEFAULT_RATES_FILE = "rates.csv"
"""Rates read when neither AICMO_RATES_FILE nor AICMO_RATES_URL is set and home has this file."""


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
    for cls in (
        Settings,
        GatewaySettings,
        ProviderCredentials,
        AnalyticsSettings,
        TrackingSettings,
        AdsSettings,
        CurrencySettings,
        MediaSettings,
        PublishingSettings,
        RetentionSettings,
        AlertSettings,
    )
}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change env vars)."""
    get_settings.cache_clear()
