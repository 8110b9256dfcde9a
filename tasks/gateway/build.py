"""The configured chains, one per capability, built from settings.

A provider with no credential configured is left out of its chain; the offline company provider
needs none, so ``company_by_domain`` always answers. Weather and revenue change faster than
company facts, so their answers are cached for less time.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from pydantic import SecretStr

from aicmo.settings import Settings
from aicmo.tasks.gateway.chain import ProviderChain
from aicmo.tasks.gateway.provider import Provider

log = logging.getLogger("aicmo.gateway")
# With AICMO_PROVIDER_SECRET_BLOCKS=1, a credential missing from the environment is read from the
# Prefect Secret block of this name (so a deployment keeps its keys in Prefect, not in env vars).
SECRET_BLOCKS = {
    "stripe_api_key": "aicmo-stripe-api-key",
    "github_token": "aicmo-github-token",
    "openweather_api_key": "aicmo-openweather-api-key",
    "company_api_key": "aicmo-company-api-key",
}


def credential(settings: Settings, field: str) -> SecretStr | None:
    """A provider credential from settings, else (when enabled) from its Prefect Secret block."""
    value: SecretStr | None = getattr(settings.providers, field)
    if value is not None:
        return value
    if os.environ.get("AICMO_PROVIDER_SECRET_BLOCKS", "").lower() not in ("1", "true", "yes"):
        return None
    from prefect.blocks.system import Secret

    try:
        secret: Any = Secret.load(SECRET_BLOCKS[field], _sync=True)  # type: ignore[call-arg]
    except ValueError:  # no such block
        return None
    log.info("credential %s read from Prefect Secret block %s", field, SECRET_BLOCKS[field])
    return SecretStr(str(secret.get()))


CAPABILITIES = ("company_by_domain", "social_by_email", "weather_by_city", "revenue_by_email")
WEATHER_TTL_S = 30 * 60
REVENUE_TTL_S = 6 * 3600


def build_chains(settings: Settings) -> dict[str, ProviderChain]:
    """Every capability's chain, primary provider first."""
    from aicmo.tasks.providers.company import CompanyHttpProvider
    from aicmo.tasks.providers.github import GitHubProvider
    from aicmo.tasks.providers.offline_company import OfflineCompanyProvider
    from aicmo.tasks.providers.openweather import OpenWeatherProvider
    from aicmo.tasks.providers.stripe import StripeProvider

    creds = settings.providers
    gw = settings.gateway

    company: list[Provider] = []
    if (company_key := credential(settings, "company_api_key")) is not None:
        company.append(CompanyHttpProvider(creds.company_base_url, company_key, settings=gw))
    company.append(OfflineCompanyProvider(settings=gw))

    social: list[Provider] = []
    if (github_token := credential(settings, "github_token")) is not None:
        social.append(GitHubProvider(creds.github_base_url, github_token, settings=gw))

    weather: list[Provider] = []
    if creds.openweather_api_key is not None:
        weather.append(
            OpenWeatherProvider(creds.openweather_base_url, creds.openweather_api_key, settings=gw)
        )

    revenue: list[Provider] = []
    if (stripe_key := credential(settings, "stripe_api_key")) is not None:
        revenue.append(StripeProvider(creds.stripe_base_url, stripe_key, settings=gw))

    negative = gw.negative_cache_ttl_s
    return {
        "company_by_domain": ProviderChain("company_by_domain", company, settings=gw),
        "social_by_email": ProviderChain("social_by_email", social, settings=gw),
        "weather_by_city": ProviderChain(
            "weather_by_city",
            weather,
            settings=gw,
            cache_ttl_s=min(gw.cache_ttl_s, WEATHER_TTL_S),
            negative_ttl_s=min(negative, WEATHER_TTL_S // 2),
        ),
        "revenue_by_email": ProviderChain(
            "revenue_by_email",
            revenue,
            settings=gw,
            cache_ttl_s=min(gw.cache_ttl_s, REVENUE_TTL_S),
            negative_ttl_s=min(negative, REVENUE_TTL_S // 6),
        ),
    }
