"""Client-side rate limits per provider: defaults from each API's published limits, env overrides.

``AICMO_GATEWAY_PROVIDER_LIMITS`` takes JSON, e.g. ``{"github": {"rps": 5, "concurrency": 4}}``;
the local fake server's environment raises them so that demos and benchmarks are not throttled.
"""

from __future__ import annotations

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProviderLimit(BaseModel):
    """Requests per second (None: unlimited) and calls in flight (None: unlimited) of one provider."""

    rps: float | None = Field(None, gt=0)
    concurrency: int | None = Field(None, ge=1)


# Published limits: Stripe ~25 read req/s in test mode (100 live); GitHub search 30 req/min
# authenticated; OpenWeather free plan 60 req/min; Clearbit 600 req/min.
DEFAULT_LIMITS: dict[str, ProviderLimit] = {
    "stripe": ProviderLimit(rps=25, concurrency=10),
    "github": ProviderLimit(rps=0.5, concurrency=2),
    "openweather": ProviderLimit(rps=1, concurrency=4),
    "company_http": ProviderLimit(rps=10, concurrency=10),
    "company_offline": ProviderLimit(),
}


class ProviderLimitSettings(BaseSettings):
    """Overrides of the default limits, read from ``AICMO_GATEWAY_PROVIDER_LIMITS``."""

    model_config = SettingsConfigDict(env_prefix="AICMO_GATEWAY_", extra="ignore")

    provider_limits: dict[str, ProviderLimit] = Field(default_factory=dict)


def limit_for(provider: str) -> ProviderLimit:
    """The effective limit of ``provider``: the env override, else the published default."""
    overrides = ProviderLimitSettings().provider_limits
    if provider in overrides:
        return overrides[provider]
    return DEFAULT_LIMITS.get(provider, ProviderLimit())
