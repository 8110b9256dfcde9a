"""The configured chains, one per capability, built from settings.

A provider with no credential configured is left out of its chain; the offline company provider
needs none, so ``company_by_domain`` always answers. Weather and revenue change faster than
company facts, so their answers are cached for less time.
"""

from __future__ import annotations

from aicmo.settings import Settings
from aicmo.tasks.gateway.chain import ProviderChain
from aicmo.tasks.gateway.provider import Provider

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
    if creds.company_api_key is not None:
        company.append(CompanyHttpProvider(creds.company_base_url, creds.company_api_key, settings=gw))
    company.append(OfflineCompanyProvider(settings=gw))

    social: list[Provider] = []
    if creds.github_token is not None:
        social.append(GitHubProvider(creds.github_base_url, creds.github_token, settings=gw))

    weather: list[Provider] = []
    if creds.openweather_api_key is not None:
        weather.append(
            OpenWeatherProvider(creds.openweather_base_url, creds.openweather_api_key, settings=gw)
        )

    revenue: list[Provider] = []
    if creds.stripe_api_key is not None:
        revenue.append(StripeProvider(creds.stripe_base_url, creds.stripe_api_key, settings=gw))

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
