"""Company by domain from a Clearbit-style HTTP API.

API: ``GET /v2/companies/find?domain=<domain>`` with ``Authorization: Bearer <key>``. 200 is the
company; 404 is 'unknown'; 202 means 'queued for lookup, ask later' (treated as not found now;
the next provider in the chain may know). Errors are ``{"error": {"type", "message"}}``.
"""

from __future__ import annotations

import httpx

from aicmo.tasks.gateway import Answer, Provider


class CompanyHttpProvider(Provider):
    """Company facts from a Clearbit-style Company API."""

    name = "company_http"
    capability = "company_by_domain"

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        body = await self.get_json(client, "/v2/companies/find", {"domain": key}, not_found=(404, 202))
        if body is None:
            return Answer(found=False)
        geo = body.get("geo") or {}
        category = body.get("category") or {}
        metrics = body.get("metrics") or {}
        return Answer(
            found=True,
            value={
                "domain": body.get("domain") or key,
                "name": body["name"],
                "legal_name": body.get("legalName"),
                "industry": category.get("industry"),
                "sector": category.get("sector"),
                "employees": metrics.get("employees"),
                "country": geo.get("countryCode"),
                "city": geo.get("city"),
                "founded_year": body.get("foundedYear"),
                "is_free_mail": False,
                "source": self.name,
            },
        )
