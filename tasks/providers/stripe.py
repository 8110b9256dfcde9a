"""Stripe: customers and their charges or payment intents, with cursor pagination.

API: ``GET /v1/customers``, ``/v1/charges``, ``/v1/payment_intents`` with
``Authorization: Bearer <secret key>``; lists are ``{"object": "list", "data": [...],
"has_more": bool}`` paged with ``limit`` (1-100) and ``starting_after=<last id>``. Errors are
``{"error": {"type": ..., "message": ...}}``. Amounts are in the currency's minor unit except
for zero-decimal currencies (JPY, KRW, ...).

A page that arrives broken (a body cut off mid-JSON, invalid JSON, not a list) is fetched again
from the same ``starting_after`` cursor, up to ``PAGE_REFETCHES`` times, so a long sync resumes
where it was instead of failing or starting over; the gateway's own retries (5xx, timeouts,
dropped connections) run inside each fetch.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from aicmo.tasks.gateway import Answer, Provider, ProviderError, ProviderMetrics

PAGE_LIMIT = 100
PAGE_REFETCHES = 2
"""How many more times a broken (truncated or malformed) list page is fetched from its cursor."""
log = logging.getLogger("aicmo.providers.stripe")
ZERO_DECIMAL = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
RESOURCES = ("customers", "charges", "payment_intents")


def major_units(amount: int, currency: str) -> float:
    """A Stripe minor-unit amount in the currency's major unit (cents -> dollars; yen stays yen)."""
    return float(amount) if currency.lower() in ZERO_DECIMAL else amount / 100.0


@dataclass(frozen=True)
class StripePage:
    """One page of a Stripe list."""

    data: list[dict[str, Any]]
    has_more: bool


def payment_amount(obj: dict[str, Any]) -> int | None:
    """The captured amount (minor units) of a succeeded charge or payment intent, net of refunds."""
    if obj.get("status") != "succeeded":
        return None
    if obj.get("object") == "payment_intent":
        return int(obj.get("amount_received") or 0)
    return int(obj.get("amount_captured", obj.get("amount", 0)) or 0) - int(obj.get("amount_refunded") or 0)


def payment_email(obj: dict[str, Any]) -> str | None:
    """The email a payment names when it has no customer (receipt or billing email)."""
    email = obj.get("receipt_email") or ((obj.get("billing_details") or {}).get("email"))
    return str(email) if email else None


class StripeProvider(Provider):
    """Customer revenue from Stripe."""

    name = "stripe"
    capability = "revenue_by_email"

    async def list_page(
        self,
        client: httpx.AsyncClient,
        resource: str,
        *,
        starting_after: str | None = None,
        limit: int = PAGE_LIMIT,
        filters: dict[str, str] | None = None,
    ) -> StripePage:
        """One page of ``/v1/<resource>``; one attempt (the gateway retries it)."""
        if resource not in RESOURCES:
            raise ValueError(f"unknown Stripe resource {resource!r}; known: {RESOURCES}")
        params: dict[str, Any] = {"limit": limit, **(filters or {})}
        if starting_after:
            params["starting_after"] = starting_after
        body = await self.get_json(client, f"/v1/{resource}", params, not_found=())
        if (
            not isinstance(body, dict)
            or body.get("object") != "list"
            or not isinstance(body.get("data"), list)
        ):
            raise ProviderError(self.name, "malformed", f"/v1/{resource} did not return a Stripe list object")
        return StripePage(data=body["data"], has_more=bool(body.get("has_more")))

    async def iterate(
        self,
        client: httpx.AsyncClient,
        resource: str,
        metrics: ProviderMetrics,
        **filters: str,
    ) -> AsyncIterator[dict[str, Any]]:
        """Every object of ``/v1/<resource>``, page by page, each page through the gateway's guard.

        A broken page is fetched again from the last good cursor (``PAGE_REFETCHES`` times at most);
        the error that stops the listing names that cursor.
        """
        starting_after: str | None = None
        while True:
            page = await self._page_from(client, resource, starting_after, filters, metrics)
            metrics.successes += 1
            for obj in page.data:
                yield obj
            if not page.has_more or not page.data:
                return
            starting_after = str(page.data[-1]["id"])

    async def _page_from(
        self,
        client: httpx.AsyncClient,
        resource: str,
        cursor: str | None,
        filters: dict[str, str],
        metrics: ProviderMetrics,
    ) -> StripePage:
        """The page after ``cursor``; a malformed one is fetched again, then reported with its cursor."""

        def one_page() -> Awaitable[StripePage]:
            return self.list_page(client, resource, starting_after=cursor, filters=filters)

        where = f"/v1/{resource} starting_after={cursor}" if cursor else f"/v1/{resource} first page"
        for refetch in range(PAGE_REFETCHES + 1):
            try:
                page, _ = await self.guard.run(one_page, self.settings, metrics)
                return page
            except ProviderError as exc:
                if exc.kind != "malformed":
                    raise
                if refetch == PAGE_REFETCHES:
                    raise ProviderError(
                        self.name,
                        "malformed",
                        f"{where} was broken {PAGE_REFETCHES + 1} times ({exc.detail})",
                        status=exc.status,
                    ) from None
                metrics.retries += 1
                log.info("stripe: %s arrived broken (%s); fetching it again", where, exc.detail)
        raise AssertionError("unreachable")

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        """Revenue of the customer(s) with email ``key``: totals per currency, charge count, dates."""
        customers = (await self.list_page(client, "customers", filters={"email": key})).data
        if not customers:
            return Answer(found=False)
        revenue: dict[str, float] = {}
        charges = 0
        stamps: list[int] = []
        for customer in customers:
            cursor: str | None = None
            while True:
                page = await self.list_page(
                    client, "charges", filters={"customer": str(customer["id"])}, starting_after=cursor
                )
                for charge in page.data:
                    amount = payment_amount(charge)
                    if amount is None:
                        continue
                    currency = str(charge["currency"]).lower()
                    revenue[currency] = revenue.get(currency, 0.0) + major_units(amount, currency)
                    charges += 1
                    stamps.append(int(charge["created"]))
                if not page.has_more or not page.data:
                    break
                cursor = str(page.data[-1]["id"])
        main_currency = max(revenue, key=lambda c: revenue[c]) if revenue else None
        return Answer(
            found=True,
            value={
                "email": key,
                "customer_ids": [str(c["id"]) for c in customers],
                "revenue": {c: round(v, 2) for c, v in revenue.items()},
                "currency": main_currency,
                "total_revenue": round(revenue[main_currency], 2) if main_currency else 0.0,
                "charges": charges,
                "first_charge_at": _iso(min(stamps)) if stamps else None,
                "last_charge_at": _iso(max(stamps)) if stamps else None,
                "source": self.name,
            },
        )


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
