"""Build a platform adapter for an account from settings (tokens stay in settings, never in logs)."""

from __future__ import annotations

from aicmo.errors import ConfigError, InputError
from aicmo.settings import AdsSettings
from aicmo.tasks.ads.google_ads_api import GoogleAdsPlatform, google_ads_client
from aicmo.tasks.ads.meta_api import MetaAdsPlatform, meta_client
from aicmo.tasks.ads.platforms import AdPlatform, RetryPolicy

PLATFORMS = ("meta", "google_ads")


def connect(
    platform: str, account: str, settings: AdsSettings, retry: RetryPolicy | None = None
) -> AdPlatform:
    """The adapter of ``platform`` for ``account``; a missing token is a ``ConfigError`` naming it."""
    if platform == "meta":
        if settings.meta_access_token is None:
            raise ConfigError("AICMO_ADS_META_ACCESS_TOKEN is not set: needed to change Meta ad sets")
        client = meta_client(settings.meta_base_url, settings.meta_access_token.get_secret_value())
        return MetaAdsPlatform(account, client, retry=retry)
    if platform == "google_ads":
        missing = [
            name
            for name, value in (
                ("AICMO_ADS_GOOGLE_ADS_ACCESS_TOKEN", settings.google_ads_access_token),
                ("AICMO_ADS_GOOGLE_ADS_DEVELOPER_TOKEN", settings.google_ads_developer_token),
            )
            if value is None
        ]
        if missing:
            raise ConfigError(f"{' and '.join(missing)} not set: needed to change Google Ads ad groups")
        assert (
            settings.google_ads_access_token is not None and settings.google_ads_developer_token is not None
        )
        client = google_ads_client(
            settings.google_ads_base_url,
            settings.google_ads_access_token.get_secret_value(),
            settings.google_ads_developer_token.get_secret_value(),
            settings.google_ads_login_customer_id,
        )
        return GoogleAdsPlatform(account, client, retry=retry)
    raise InputError(f"unknown platform {platform!r}; expected one of {', '.join(PLATFORMS)}")
