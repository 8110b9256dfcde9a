"""Meta Marketing API (Graph API) adapter.

- ``GET /act_{account}/adsets?fields=id,name,campaign_id,campaign{name},status,daily_budget,bid_amount``
  pages through ``paging.next``;
- ``POST /{adset-id}`` with ``daily_budget`` or ``bid_amount`` (integers in the account currency's
  minor units, e.g. cents) or ``status`` (``ACTIVE``/``PAUSED``) answers ``{"success": true}``;
- ``GET /act_{account}/insights?level=adset&time_increment=1&time_range={...}`` reads daily stats.

The access token travels as a Bearer header. Errors are ``{"error": {"message", "type", "code",
"error_subcode", "fbtrace_id"}}``; throttling is codes 4, 17, 613 and 80000-80014 (often HTTP
400), with ``X-Business-Use-Case-Usage`` telling ``estimated_time_to_regain_access`` in minutes.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import httpx

from aicmo.tasks.ads.platforms import AdPlatform, AdSetInfo, PlatformAnswer, PlatformError

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
TRANSIENT_CODES = frozenset({1, 2})  # "An unknown error occurred", "Service temporarily unavailable"
ADSET_FIELDS = "id,name,campaign_id,campaign{name},status,daily_budget,bid_amount"
INSIGHT_FIELDS = "adset_id,adset_name,campaign_name,impressions,clicks,spend,actions,action_values"


def _minor(amount: float) -> str:
    return str(round(amount * 100))


def _regain_minutes(headers: httpx.Headers) -> float | None:
    """The longest ``estimated_time_to_regain_access`` (minutes) in the business-use-case header."""
    raw = headers.get("x-business-use-case-usage")
    if not raw:
        return None
    try:
        usage = json.loads(raw)
        times = [
            float(entry.get("estimated_time_to_regain_access", 0))
            for entries in usage.values()
            for entry in entries
        ]
    except (ValueError, AttributeError, TypeError):
        return None
    return max(times, default=None)


class MetaAdsPlatform(AdPlatform):
    """An ad account (``act_<id>``) through the Graph API."""

    platform = "meta"

    def classify(self, response: httpx.Response, body: dict[str, Any]) -> PlatformError:
        raw_error = body.get("error")
        error: dict[str, Any] = raw_error if isinstance(raw_error, dict) else {}
        code = error.get("code")
        message = str(
            error.get("error_user_msg") or error.get("message") or body.get("raw") or response.reason_phrase
        )
        if code is not None:
            message = (
                f"{message} [code {code}"
                + (f"/{error['error_subcode']}" if error.get("error_subcode") else "")
                + "]"
            )
        throttled = code in THROTTLE_CODES or response.status_code == 429
        minutes = _regain_minutes(response.headers) if throttled else None
        return PlatformError(
            self.platform,
            response.status_code,
            message,
            body=body,
            retryable=throttled or code in TRANSIENT_CODES or response.status_code >= 500,
            retry_after_s=None if minutes is None else max(minutes * 60.0, 1.0) if minutes > 0 else None,
        )

    def _account_path(self) -> str:
        return self.account if self.account.startswith("act_") else f"act_{self.account}"

    def list_ad_sets(self) -> list[AdSetInfo]:
        out: list[AdSetInfo] = []
        url: str | None = f"/{self._account_path()}/adsets"
        params: dict[str, Any] | None = {"fields": ADSET_FIELDS, "limit": 100}
        while url:
            _, body = self.request("GET", url, params=params)
            for row in body.get("data", []):
                budget, bid = row.get("daily_budget"), row.get("bid_amount")
                out.append(
                    AdSetInfo(
                        id=str(row["id"]),
                        name=str(row.get("name", "")),
                        campaign_id=str(row.get("campaign_id", "")),
                        campaign=str((row.get("campaign") or {}).get("name", "")),
                        status=str(row.get("status", "")),
                        daily_budget=None if budget in (None, "") else int(budget) / 100,
                        bid=None if bid in (None, "") else int(bid) / 100,
                    )
                )
            url, params = (body.get("paging") or {}).get("next"), None
        return out

    def _post(self, ad_set: AdSetInfo, data: dict[str, str]) -> PlatformAnswer:
        response, body = self.request("POST", f"/{ad_set.id}", data=data)
        return PlatformAnswer(response.status_code, body)

    def set_daily_budget(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        return self._post(ad_set, {"daily_budget": _minor(amount)})

    def set_bid(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        return self._post(ad_set, {"bid_amount": _minor(amount)})

    def set_status(self, ad_set: AdSetInfo, active: bool) -> PlatformAnswer:
        return self._post(ad_set, {"status": "ACTIVE" if active else "PAUSED"})

    def insights(self, since: date, until: date) -> list[dict[str, Any]]:
        """Daily ad-set rows of the account's insights between two days."""
        rows: list[dict[str, Any]] = []
        url: str | None = f"/{self._account_path()}/insights"
        params: dict[str, Any] | None = {
            "level": "adset",
            "fields": INSIGHT_FIELDS,
            "time_increment": 1,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "limit": 500,
        }
        while url:
            _, body = self.request("GET", url, params=params)
            rows.extend(body.get("data", []))
            url, params = (body.get("paging") or {}).get("next"), None
        return rows


def meta_client(base_url: str, access_token: str, timeout_s: float = 10.0) -> httpx.Client:
    """An HTTP client for the Graph API (Bearer token; never logged)."""
    return httpx.Client(
        base_url=base_url.rstrip("/"), headers={"Authorization": f"Bearer {access_token}"}, timeout=timeout_s
    )
