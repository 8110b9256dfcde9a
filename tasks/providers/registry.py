"""The capability registry: which providers answer which capability, in failover order, built from settings.

A provider with no credential configured is left out of its chain; the offline company provider
needs none, so ``company_by_domain`` always answers. Weather and revenue change faster than
company facts, so their answers are cached for less time. Every credential goes through
:func:`credential`: the settings first, then (when ``AICMO_PROVIDER_SECRET_BLOCKS`` is on) the
provider's Prefect Secret block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from aicmo.settings import Settings
from aicmo.tasks.gateway import Provider, ProviderChain
from aicmo.tasks.providers.company import CompanyHttpProvider
from aicmo.tasks.providers.github import GitHubProvider
from aicmo.tasks.providers.offline_company import OfflineCompanyProvider
from aicmo.tasks.providers.openweather import OpenWeatherProvider
from aicmo.tasks.providers.stripe import StripeProvider

log = logging.getLogger("aicmo.gateway")


@dataclass(frozen=True)
class ProviderSpec:
    """How to build one provider from settings: its class, credential and base-URL settings."""

    cls: type[Provider]
    credential_field: str | None = None
    base_url_field: str | None = None
    secret_block: str | None = None


# Each capability's providers, primary first.
CHAINS: dict[str, tuple[ProviderSpec, ...]] = {
    "company_by_domain": (
        ProviderSpec(CompanyHttpProvider, "company_api_key", "company_base_url", "aicmo-company-api-key"),
        ProviderSpec(OfflineCompanyProvider),
    ),
    "social_by_email": (
        ProviderSpec(GitHubProvider, "github_token", "github_base_url", "aicmo-github-token"),
    ),
    "weather_by_city": (
        ProviderSpec(
            OpenWeatherProvider, "openweather_api_key", "openweather_base_url", "aicmo-openweather-api-key"
        ),
    ),
    "revenue_by_email": (
        ProviderSpec(StripeProvider, "stripe_api_key", "stripe_base_url", "aicmo-stripe-api-key"),
    ),
}
CAPABILITIES = tuple(CHAINS)
WEATHER_TTL_S = 30 * 60
REVENUE_TTL_S = 6 * 3600
# Capabilities whose answers go stale faster than the gateway's default cache TTLs.
CACHE_TTLS_S: dict[str, tuple[int, int]] = {
    "weather_by_city": (WEATHER_TTL_S, WEATHER_TTL_S // 2),
    "revenue_by_email": (REVENUE_TTL_S, REVENUE_TTL_S // 6),
}


def _spec(field: str) -> ProviderSpec:
    for specs in CHAINS.values():
        for spec in specs:
            if spec.credential_field == field:
                return spec
    raise KeyError(f"no provider takes the credential {field!r}")


def credential(settings: Settings, field: str) -> SecretStr | None:
    """A provider credential from settings, else (when enabled) from its Prefect Secret block."""
    value: SecretStr | None = getattr(settings.providers, field)
    if value is not None or not settings.providers.provider_secret_blocks:
        return value
    block = _spec(field).secret_block
    if block is None:
        return None
    from prefect.blocks.system import Secret

    try:
        secret: Any = Secret.load(block, _sync=True)  # type: ignore[call-arg]
    except ValueError:  # no such block
        return None
    log.info("credential %s read from Prefect Secret block %s", field, block)
    return SecretStr(str(secret.get()))


def build_provider(spec: ProviderSpec, settings: Settings) -> Provider | None:
    """The provider of ``spec`` configured from ``settings``, None when its credential is missing."""
    if spec.credential_field is None:
        return spec.cls(settings=settings.gateway)  # type: ignore[call-arg]
    key = credential(settings, spec.credential_field)
    if key is None:
        return None
    base_url = str(getattr(settings.providers, spec.base_url_field or ""))
    return spec.cls(base_url, key, settings=settings.gateway)


def stripe_provider(settings: Settings) -> StripeProvider | None:
    """The configured Stripe provider (the revenue chain's), None without a Stripe key."""
    for spec in CHAINS["revenue_by_email"]:
        if spec.cls is StripeProvider:
            provider = build_provider(spec, settings)
            return provider if isinstance(provider, StripeProvider) else None
    return None


def build_chains(settings: Settings) -> dict[str, ProviderChain]:
    """Every capability's chain, primary provider first, providers without credentials left out."""
    gw = settings.gateway
    chains: dict[str, ProviderChain] = {}
    for capability, specs in CHAINS.items():
        providers = [p for p in (build_provider(spec, settings) for spec in specs) if p is not None]
        ttl, negative_ttl = CACHE_TTLS_S.get(capability, (gw.cache_ttl_s, gw.negative_cache_ttl_s))
        chains[capability] = ProviderChain(
            capability,
            providers,
            settings=gw,
            cache_ttl_s=min(gw.cache_ttl_s, ttl),
            negative_ttl_s=min(gw.negative_cache_ttl_s, negative_ttl),
        )
    return chains
