"""Client-side rate limits per provider: defaults from each API's published limits, settings override.

``AICMO_GATEWAY_PROVIDER_LIMITS`` (``GatewaySettings.provider_limits``) takes JSON, e.g.
``{"github": {"rps": 5, "concurrency": 4}}``; the local fake server's environment raises them so
that demos and benchmarks are not throttled.
"""

from __future__ import annotations

from aicmo.settings import GatewaySettings, ProviderLimit

# Published limits: Stripe ~25 read req/s in test mode (100 live); GitHub search 30 req/min
# authenticated; OpenWeather free plan 60 req/min; Clearbit 600 req/min.
DEFAULT_LIMITS: dict[str, ProviderLimit] = {
    "stripe": ProviderLimit(rps=25, concurrency=10),
    "github": ProviderLimit(rps=0.5, concurrency=2),
    "openweather": ProviderLimit(rps=1, concurrency=4),
    "company_http": ProviderLimit(rps=10, concurrency=10),
    "company_offline": ProviderLimit(),
}


def limit_for(provider: str, settings: GatewaySettings) -> ProviderLimit:
    """The effective limit of ``provider``: the settings' override, else the published default."""
    if provider in settings.provider_limits:
        return settings.provider_limits[provider]
    return DEFAULT_LIMITS.get(provider, ProviderLimit())
