"""Google Ads API (REST) adapter.

- ``POST /customers/{id}/googleAds:searchStream`` with a GAQL ``query`` answers a JSON array of
  batches, each ``{"results": [...], "fieldMask", "requestId"}``; ad groups are read with their
  campaign and the campaign's budget (``amountMicros``);
- ``POST /customers/{id}/campaignBudgets:mutate`` with ``{"operations": [{"update":
  {"resourceName", "amountMicros"}, "updateMask": "amount_micros"}]}`` sets a budget. Google
  budgets belong to campaigns, so an ad group's daily budget is its campaign's budget;
- ``POST /customers/{id}/adGroups:mutate`` sets ``cpcBidMicros`` or ``status`` (ENABLED/PAUSED).

Headers: ``Authorization: Bearer <OAuth token>``, ``developer-token`` and, through a manager
account, ``login-customer-id``. Errors are ``{"error": {"code", "message", "status", "details":
[{"@type": ".../GoogleAdsFailure", "errors": [{"errorCode": {...}, "message", "details":
{"quotaErrorDetails": {"retryDelay": "30s"}}}]}]}}``; quota exhaustion is HTTP 429
``RESOURCE_EXHAUSTED``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from aicmo.tasks.ads.platforms import AdPlatform, AdSetInfo, PlatformAnswer, PlatformError

AD_GROUP_QUERY = (
    "SELECT campaign.id, campaign.name, campaign_budget.resource_name, campaign_budget.amount_micros, "
    "ad_group.id, ad_group.name, ad_group.status, ad_group.cpc_bid_micros "
    "FROM ad_group WHERE ad_group.status != 'REMOVED'"
)
MICROS = 1_000_000
_SECONDS = re.compile(r"^(\d+(?:\.\d+)?)s$")


def _micros(amount: float) -> str:
    return str(round(amount * MICROS))


def _failures(body: dict[str, Any]) -> list[dict[str, Any]]:
    raw_error = body.get("error")
    error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
    out: list[dict[str, Any]] = []
    for detail in error.get("details") or []:
        if isinstance(detail, dict):
            out.extend(e for e in detail.get("errors") or [] if isinstance(e, dict))
    return out


class GoogleAdsPlatform(AdPlatform):
    """A Google Ads customer (``1234567890``, dashes allowed) through the REST interface."""

    platform = "google_ads"

    @property
    def customer_id(self) -> str:
        return self.account.replace("-", "")

    def classify(self, response: httpx.Response, body: dict[str, Any]) -> PlatformError:
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        status = str(error.get("status", ""))
        failures = _failures(body)
        parts = []
        for failure in failures:
            code = ".".join(f"{k}.{v}" for k, v in (failure.get("errorCode") or {}).items())
            parts.append(
                f"{failure.get('message', '')} [{code}]" if code else str(failure.get("message", ""))
            )
        message = "; ".join(p for p in parts if p) or str(
            error.get("message") or body.get("raw") or response.reason_phrase
        )
        if status:
            message = f"{status}: {message}"
        delay = None
        for failure in failures:
            quota = ((failure.get("details") or {}).get("quotaErrorDetails") or {}).get("retryDelay")
            match = _SECONDS.match(str(quota or ""))
            if match:
                delay = float(match.group(1))
        retryable = response.status_code in (429, 500, 502, 503, 504) or status in (
            "UNAVAILABLE",
            "RESOURCE_EXHAUSTED",
        )
        return PlatformError(
            self.platform, response.status_code, message, body=body, retryable=retryable, retry_after_s=delay
        )

    def list_ad_sets(self) -> list[AdSetInfo]:
        _, batches = self.request(
            "POST", f"/customers/{self.customer_id}/googleAds:searchStream", json={"query": AD_GROUP_QUERY}
        )
        out: list[AdSetInfo] = []
        for batch in batches if isinstance(batches, list) else [batches]:
            for row in batch.get("results", []):
                campaign, group, budget = (
                    row.get("campaign", {}),
                    row.get("adGroup", {}),
                    row.get("campaignBudget", {}),
                )
                amount, bid = budget.get("amountMicros"), group.get("cpcBidMicros")
                out.append(
                    AdSetInfo(
                        id=str(group.get("id", "")),
                        name=str(group.get("name", "")),
                        campaign_id=str(campaign.get("id", "")),
                        campaign=str(campaign.get("name", "")),
                        status="ACTIVE" if group.get("status") == "ENABLED" else str(group.get("status", "")),
                        daily_budget=None if amount is None else int(amount) / MICROS,
                        bid=None if bid is None else int(bid) / MICROS,
                        budget_id=budget.get("resourceName"),
                    )
                )
        return out

    def _ad_group(self, ad_set: AdSetInfo) -> str:
        return f"customers/{self.customer_id}/adGroups/{ad_set.id}"

    def _mutate(self, service: str, update: dict[str, Any], mask: str) -> PlatformAnswer:
        response, body = self.request(
            "POST",
            f"/customers/{self.customer_id}/{service}:mutate",
            json={"operations": [{"update": update, "updateMask": mask}]},
        )
        return PlatformAnswer(response.status_code, body)

    def set_daily_budget(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        if not ad_set.budget_id:
            raise PlatformError(self.platform, None, f"ad group {ad_set.id} has no campaign budget to set")
        return self._mutate(
            "campaignBudgets",
            {"resourceName": ad_set.budget_id, "amountMicros": _micros(amount)},
            "amount_micros",
        )

    def set_bid(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        return self._mutate(
            "adGroups",
            {"resourceName": self._ad_group(ad_set), "cpcBidMicros": _micros(amount)},
            "cpc_bid_micros",
        )

    def set_status(self, ad_set: AdSetInfo, active: bool) -> PlatformAnswer:
        return self._mutate(
            "adGroups",
            {"resourceName": self._ad_group(ad_set), "status": "ENABLED" if active else "PAUSED"},
            "status",
        )


def google_ads_client(
    base_url: str,
    access_token: str,
    developer_token: str,
    login_customer_id: str | None = None,
    timeout_s: float = 10.0,
) -> httpx.Client:
    """An HTTP client for the Google Ads REST interface (tokens in headers; never logged)."""
    headers = {"Authorization": f"Bearer {access_token}", "developer-token": developer_token}
    if login_customer_id:
        headers["login-customer-id"] = login_customer_id.replace("-", "")
    return httpx.Client(base_url=base_url.rstrip("/"), headers=headers, timeout=timeout_s)
