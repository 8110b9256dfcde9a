"""A local server on 127.0.0.1 that speaks the Meta Marketing API's and the Google Ads REST API's
shapes for ad sets, budgets and bids, with the platforms' error bodies and rate limits on demand.

Meta (Graph API, ``/v21.0``): ``GET /act_{id}/adsets`` (cursor paging), ``POST /{adset-id}`` with
``daily_budget``/``bid_amount`` (minor units) or ``status``, ``GET /act_{id}/insights``. Errors:
``{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}``; throttling is HTTP 400
code 17 with ``X-Business-Use-Case-Usage``; a bad token is code 190; a budget below 1.00 is
code 100. Like the real API, an ad set's budget may change at most 4 times an hour.

Google Ads (REST, ``/v18``): ``POST /customers/{id}/googleAds:searchStream``,
``.../campaignBudgets:mutate`` and ``.../adGroups:mutate``. Errors: ``{"error": {"code",
"message", "status", "details": [GoogleAdsFailure]}}``; quota exhaustion is HTTP 429
``RESOURCE_EXHAUSTED`` with ``retryDelay``; a missing developer token is 401; an amount that is
not a multiple of the currency's minimum unit is 400 ``NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT``.

Frankfurter (ECB reference rates, ``/frankfurter``): ``GET /{start}..{end}?from=EUR&to=USD``
with business days only; an unknown currency is 404 ``{"message": "not found"}``.

Use it as a context manager (its own thread and event loop, ephemeral port)::

    with FakeAdPlatforms() as fake:
        fake.throttle("meta", times=1, regain_minutes=0)
        ...
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from aicmo.fakes.http_app import BackgroundApp

META_TOKEN = "EAAfakeMetaAccessToken0123456789"
GOOGLE_TOKEN = "ya29.fake-google-oauth-token"
GOOGLE_DEVELOPER_TOKEN = "fake-developer-token-ABCDEF"
META_VERSION = "v21.0"
GOOGLE_VERSION = "v18"
META_ACCOUNT = "act_1001"
GOOGLE_CUSTOMER = "1234567890"
BUDGET_CHANGES_PER_HOUR = 4
MIN_CURRENCY_UNIT_MICROS = 10_000  # one cent


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(body), status=status, content_type="application/json", headers=headers
    )


def meta_error(
    status: int,
    code: int,
    message: str,
    subcode: int | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """A Graph API error in its real shape."""
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code, **extra}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = uuid.uuid4().hex[:22]
    return _json({"error": error}, status, headers)


def malformed_resource_name(where: dict[str, Any]) -> web.Response:
    """Google Ads' answer to an operation naming a resource that does not exist."""
    return google_error(
        400,
        "INVALID_ARGUMENT",
        "Request contains an invalid argument.",
        [
            {
                "errorCode": {"requestError": "RESOURCE_NAME_MALFORMED"},
                "message": "Resource name is malformed.",
                "location": where,
            }
        ],
    )


def google_error(
    status: int, rpc_status: str, message: str, errors: list[dict[str, Any]] | None = None
) -> web.Response:
    """A Google Ads REST error in its real shape (GoogleAdsFailure in ``details``)."""
    error: dict[str, Any] = {"code": status, "message": message, "status": rpc_status}
    if errors is not None:
        error["details"] = [
            {
                "@type": f"type.googleapis.com/google.ads.googleads.{GOOGLE_VERSION}.errors.GoogleAdsFailure",
                "errors": errors,
                "requestId": uuid.uuid4().hex[:22],
            }
        ]
    return _json({"error": error}, status)


@dataclass
class _Fault:
    kind: str  # throttle | server_error
    remaining: int
    regain_minutes: float = 0.0


@dataclass
class PlatformState:
    """Ad sets and the changes made to them, as the fake platforms hold them."""

    meta_adsets: dict[str, dict[str, Any]] = field(default_factory=dict)
    google_ad_groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    google_budgets: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    budget_changes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # ECB-style reference rates to USD for the Frankfurter routes (business days only).
    fx_to_usd: dict[str, float] = field(default_factory=lambda: {"EUR": 1.08, "GBP": 1.27, "SEK": 0.095})


def default_state() -> PlatformState:
    """Two Meta ad sets and two Google ad groups (each in its own campaign with its own budget)."""
    state = PlatformState()
    for i, (campaign, name, budget, bid) in enumerate(
        [("Prospecting", "Lookalike 1%", 5000, 120), ("Retargeting", "Site visitors 30d", 3000, None)]
    ):
        adset_id = f"2385{i:07d}"
        state.meta_adsets[adset_id] = {
            "id": adset_id,
            "name": name,
            "campaign_id": f"2384{i:07d}",
            "campaign": {"name": campaign, "id": f"2384{i:07d}"},
            "status": "ACTIVE",
            "daily_budget": str(budget),
            **({"bid_amount": bid} if bid is not None else {}),
        }
    for i, (campaign, name, budget_micros, bid_micros) in enumerate(
        [("Brand Search", "Exact", 40_000_000, 1_200_000), ("Shopping", "All products", 25_000_000, 650_000)]
    ):
        budget_name = f"customers/{GOOGLE_CUSTOMER}/campaignBudgets/{900 + i}"
        state.google_budgets[budget_name] = {"resourceName": budget_name, "amountMicros": str(budget_micros)}
        state.google_ad_groups[str(700 + i)] = {
            "campaign": {
                "resourceName": f"customers/{GOOGLE_CUSTOMER}/campaigns/{500 + i}",
                "id": str(500 + i),
                "name": campaign,
            },
            "adGroup": {
                "resourceName": f"customers/{GOOGLE_CUSTOMER}/adGroups/{700 + i}",
                "id": str(700 + i),
                "name": name,
                "status": "ENABLED",
                "cpcBidMicros": str(bid_micros),
            },
            "budget": budget_name,
        }
    return state


class FakeAdPlatformsApp:
    """The aiohttp routes of both platforms over one ``PlatformState``."""

    def __init__(self, state: PlatformState) -> None:
        self.state = state
        self.faults: dict[str, list[_Fault]] = defaultdict(list)
        self.lock = threading.Lock()
        self.app = web.Application()
        self.app.router.add_get(f"/{META_VERSION}/{{account}}/adsets", self.meta_adsets)
        self.app.router.add_get(f"/{META_VERSION}/{{account}}/insights", self.meta_insights)
        self.app.router.add_post(f"/{META_VERSION}/{{adset}}", self.meta_update)
        self.app.router.add_post(
            f"/{GOOGLE_VERSION}/customers/{{cid}}/googleAds:searchStream", self.google_search
        )
        self.app.router.add_post(
            f"/{GOOGLE_VERSION}/customers/{{cid}}/{{service}}:mutate", self.google_mutate
        )
        self.app.router.add_get("/frankfurter/{span}", self.frankfurter)

    # ---- faults ------------------------------------------------------------------------------------
    def _fault(self, platform: str) -> _Fault | None:
        with self.lock:
            queue = self.faults[platform]
            if not queue:
                return None
            fault = queue[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                queue.pop(0)
            return fault

    def _meta_fault(self) -> web.Response | None:
        fault = self._fault("meta")
        if fault is None:
            return None
        if fault.kind == "server_error":
            return meta_error(500, 2, "Service temporarily unavailable", is_transient=True)
        usage = {
            META_ACCOUNT.removeprefix("act_"): [
                {
                    "type": "ads_management",
                    "call_count": 100,
                    "total_cputime": 30,
                    "total_time": 40,
                    "estimated_time_to_regain_access": fault.regain_minutes,
                }
            ]
        }
        return meta_error(
            400,
            17,
            "(#17) User request limit reached",
            2446079,
            headers={"X-Business-Use-Case-Usage": orjson.dumps(usage).decode()},
            is_transient=True,
            error_user_title="Ad Account Has Too Many API Calls",
        )

    def _google_fault(self) -> web.Response | None:
        fault = self._fault("google_ads")
        if fault is None:
            return None
        if fault.kind == "server_error":
            return google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        delay = f"{int(fault.regain_minutes * 60)}s"
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource has been exhausted (e.g. check quota).",
            [
                {
                    "errorCode": {"quotaError": "RESOURCE_TEMPORARILY_EXHAUSTED"},
                    "message": f"Too many requests. Retry in {delay}.",
                    "details": {
                        "quotaErrorDetails": {
                            "rateScope": "ACCOUNT",
                            "rateName": "Requests per account",
                            "retryDelay": delay,
                        }
                    },
                }
            ],
        )

    # ---- Meta ------------------------------------------------------------------------------------
    def _meta_auth(self, request: web.Request) -> web.Response | None:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ") or request.query.get(
            "access_token"
        )
        if token != META_TOKEN:
            return meta_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        return None

    def _log(self, platform: str, request: web.Request, payload: dict[str, Any]) -> None:
        with self.lock:
            self.state.requests.append((platform, f"{request.method} {request.path}", payload))

    async def meta_adsets(self, request: web.Request) -> web.StreamResponse:
        self._log("meta", request, dict(request.query))
        failure = self._meta_auth(request) or self._meta_fault()
        if failure is not None:
            return failure
        if request.match_info["account"] != META_ACCOUNT:
            return meta_error(
                400,
                100,
                f"Unsupported get request. Object with ID '{request.match_info['account']}' does not exist",
            )
        limit = int(request.query.get("limit", "25"))
        after = int(request.query.get("after", "0"))
        rows = list(self.state.meta_adsets.values())
        page = rows[after : after + limit]
        paging: dict[str, Any] = {"cursors": {"before": str(after), "after": str(after + len(page))}}
        if after + limit < len(rows):
            paging["next"] = str(request.url.with_query({**request.query, "after": str(after + limit)}))
        return _json({"data": page, "paging": paging})

    async def meta_insights(self, request: web.Request) -> web.StreamResponse:
        self._log("meta", request, dict(request.query))
        failure = self._meta_auth(request) or self._meta_fault()
        if failure is not None:
            return failure
        rows = [
            {
                "adset_id": a["id"],
                "adset_name": a["name"],
                "campaign_name": a["campaign"]["name"],
                "impressions": "1000",
                "clicks": "20",
                "spend": "12.34",
                "date_start": "2026-11-12",
                "date_stop": "2026-11-12",
            }
            for a in self.state.meta_adsets.values()
        ]
        return _json({"data": rows, "paging": {"cursors": {"before": "0", "after": str(len(rows))}}})

    async def meta_update(self, request: web.Request) -> web.StreamResponse:
        form = dict(await request.post())
        self._log("meta", request, {k: str(v) for k, v in form.items()})
        failure = self._meta_auth(request) or self._meta_fault()
        if failure is not None:
            return failure
        adset = self.state.meta_adsets.get(request.match_info["adset"])
        if adset is None:
            return meta_error(
                400,
                100,
                f"Unsupported post request. Object with ID '{request.match_info['adset']}' does not exist",
                33,
            )
        if "daily_budget" in form:
            budget = str(form["daily_budget"])
            if not budget.isdigit() or int(budget) < 100:
                return meta_error(
                    400,
                    100,
                    "Invalid parameter",
                    1885272,
                    error_user_title="Your Budget Is Too Low",
                    error_user_msg="The minimum budget for this ad set is $1.00.",
                )
            now = time.monotonic()
            with self.lock:
                recent = [t for t in self.state.budget_changes[adset["id"]] if now - t < 3600]
                if len(recent) >= BUDGET_CHANGES_PER_HOUR:
                    return meta_error(
                        400,
                        17,
                        "(#17) User request limit reached",
                        1487632,
                        error_user_msg="The budget of this ad set changed too often; try again in an hour.",
                    )
                self.state.budget_changes[adset["id"]] = [*recent, now]
            adset["daily_budget"] = budget
        if "bid_amount" in form:
            bid = str(form["bid_amount"])
            if not bid.isdigit() or int(bid) < 1:
                return meta_error(
                    400,
                    100,
                    "Invalid parameter",
                    1815114,
                    error_user_msg="The bid amount must be a positive integer.",
                )
            adset["bid_amount"] = int(bid)
        if "status" in form:
            if form["status"] not in ("ACTIVE", "PAUSED", "ARCHIVED"):
                return meta_error(
                    400, 100, "(#100) Param status must be one of {ACTIVE, PAUSED, DELETED, ARCHIVED}"
                )
            adset["status"] = str(form["status"])
        return _json({"success": True})

    async def frankfurter(self, request: web.Request) -> web.StreamResponse:
        """Frankfurter's ``GET /{start}..{end}?from=&to=`` daily reference rates."""
        return await _frankfurter_impl(self, request)

    # ---- Google ------------------------------------------------------------------------------------
    def _google_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {GOOGLE_TOKEN}":
            return google_error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            )
        if request.headers.get("developer-token") != GOOGLE_DEVELOPER_TOKEN:
            return google_error(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                [
                    {
                        "errorCode": {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
                        "message": "The developer token is not valid.",
                    }
                ],
            )
        if request.match_info["cid"] != GOOGLE_CUSTOMER:
            return google_error(
                403,
                "PERMISSION_DENIED",
                "The caller does not have permission",
                [
                    {
                        "errorCode": {"authorizationError": "USER_PERMISSION_DENIED"},
                        "message": "User doesn't have permission to access customer.",
                    }
                ],
            )
        return None

    async def google_search(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self._log("google_ads", request, body)
        failure = self._google_auth(request) or self._google_fault()
        if failure is not None:
            return failure
        if "FROM ad_group" not in str(body.get("query", "")):
            return google_error(
                400,
                "INVALID_ARGUMENT",
                "Request contains an invalid argument.",
                [
                    {
                        "errorCode": {"queryError": "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE"},
                        "message": "Only ad_group is served here.",
                    }
                ],
            )
        results = []
        for group in self.state.google_ad_groups.values():
            results.append(
                {
                    "campaign": group["campaign"],
                    "campaignBudget": self.state.google_budgets[group["budget"]],
                    "adGroup": group["adGroup"],
                }
            )
        return _json(
            [
                {
                    "results": results,
                    "fieldMask": "campaign.id,campaign.name,adGroup.id",
                    "requestId": uuid.uuid4().hex[:22],
                }
            ]
        )

    async def google_mutate(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self._log("google_ads", request, body)
        failure = self._google_auth(request) or self._google_fault()
        if failure is not None:
            return failure
        service = request.match_info["service"]
        results = []
        for index, op in enumerate(body.get("operations", [])):
            update = op.get("update", {})
            name = update.get("resourceName")
            where = {
                "fieldPathElements": [{"fieldName": "operations", "index": index}, {"fieldName": "update"}]
            }
            if service == "campaignBudgets":
                target = self.state.google_budgets.get(name)
                micros = int(update.get("amountMicros", "0"))
                if target is None:
                    return malformed_resource_name(where)
                if micros <= 0 or micros % MIN_CURRENCY_UNIT_MICROS:
                    return google_error(
                        400,
                        "INVALID_ARGUMENT",
                        "Request contains an invalid argument.",
                        [
                            {
                                "errorCode": {"campaignBudgetError": "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT"},
                                "message": "The budget amount must be a multiple of the minimum currency unit.",
                                "trigger": {"int64Value": str(micros)},
                                "location": where,
                            }
                        ],
                    )
                target["amountMicros"] = str(micros)
            elif service == "adGroups":
                group = next(
                    (g for g in self.state.google_ad_groups.values() if g["adGroup"]["resourceName"] == name),
                    None,
                )
                if group is None:
                    return malformed_resource_name(where)
                if "cpcBidMicros" in update:
                    group["adGroup"]["cpcBidMicros"] = str(update["cpcBidMicros"])
                if "status" in update:
                    group["adGroup"]["status"] = update["status"]
            else:
                return google_error(404, "NOT_FOUND", f"Method not found: {service}:mutate")
            results.append({"resourceName": name})
        return _json({"results": results})


async def _frankfurter_impl(app: FakeAdPlatformsApp, request: web.Request) -> web.StreamResponse:
    from datetime import date, timedelta

    app._log("frankfurter", request, dict(request.query))
    fault = app._fault("frankfurter")
    if fault is not None:
        return _json({"message": "Service Unavailable"}, 503)
    try:
        first, last = (date.fromisoformat(p) for p in request.match_info["span"].split(".."))
    except ValueError:
        return _json({"message": "invalid date"}, 422)
    source, target = request.query.get("from", "EUR").upper(), request.query.get("to", "USD").upper()
    table = {**app.state.fx_to_usd, "USD": 1.0}
    if source not in table or target not in table:
        return _json({"message": "not found"}, 404)
    rates = {}
    day, step = first, 0
    while day <= last:
        if day.weekday() < 5:
            drift = 1 + 0.001 * (step % 5)  # a little movement from day to day
            rates[day.isoformat()] = {target: round(table[source] / table[target] * drift, 5)}
        day += timedelta(days=1)
        step += 1
    return _json(
        {
            "amount": 1.0,
            "base": source,
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "rates": rates,
        }
    )


class FakeAdPlatforms(BackgroundApp):
    """Both fake platforms on one ephemeral port of 127.0.0.1, in a background thread."""

    def __init__(self, state: PlatformState | None = None) -> None:
        super().__init__()
        self.state = state or default_state()
        self._app = FakeAdPlatformsApp(self.state)

    def make_app(self) -> web.Application:
        return self._app.app

    @property
    def meta_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{META_VERSION}"

    @property
    def frankfurter_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/frankfurter"

    @property
    def google_base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{GOOGLE_VERSION}"

    def settings_env(self) -> dict[str, str]:
        """The ``AICMO_ADS_*`` variables that point the adapters here."""
        return {
            "AICMO_ADS_META_BASE_URL": self.meta_base_url,
            "AICMO_ADS_META_ACCESS_TOKEN": META_TOKEN,
            "AICMO_ADS_GOOGLE_ADS_BASE_URL": self.google_base_url,
            "AICMO_ADS_GOOGLE_ADS_ACCESS_TOKEN": GOOGLE_TOKEN,
            "AICMO_ADS_GOOGLE_ADS_DEVELOPER_TOKEN": GOOGLE_DEVELOPER_TOKEN,
        }

    def throttle(self, platform: str, times: int = 1, regain_minutes: float = 0.0) -> None:
        """Answer the next ``times`` calls to ``platform`` with its rate-limit error."""
        with self._app.lock:
            self._app.faults[platform].append(_Fault("throttle", times, regain_minutes))

    def server_error(self, platform: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``platform`` with its 5xx error."""
        with self._app.lock:
            self._app.faults[platform].append(_Fault("server_error", times))

    def stop(self) -> None:
        """Stop serving (the same as ``close``)."""
        self.close()
