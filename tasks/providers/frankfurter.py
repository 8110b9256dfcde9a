"""Frankfurter (the European Central Bank's reference rates): daily exchange rates, for the rates
table that converts ad spend (and orders) to the reporting currency.

API: ``GET /{start}..{end}?from=EUR&to=USD`` answers ``{"amount": 1.0, "base": "EUR",
"start_date": "...", "end_date": "...", "rates": {"2026-11-02": {"USD": 1.08}, ...}}`` with
business days only (the conversion takes the nearest earlier date). No key. An unknown currency
is ``404 {"message": "not found"}``: an honest 'not found'.

The lookup key is ``"EUR:USD:2026-11-01:2026-11-30"`` (from, to, first and last day).
"""

from __future__ import annotations

import httpx

from aicmo.tasks.gateway import Answer, Provider


class FrankfurterProvider(Provider):
    """Daily ECB reference rates from a Frankfurter server."""

    name = "frankfurter"
    capability = "fx_rates"

    def auth_headers(self) -> dict[str, str]:
        return {}

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        source, target, start, end = key.upper().split(":")
        body = await self.get_json(client, f"/{start}..{end}", {"from": source, "to": target})
        if body is None or not body.get("rates"):
            return Answer(found=False)
        rates = {day: float(values[target]) for day, values in body["rates"].items() if target in values}
        return Answer(found=True, value={"from": source, "to": target, "rates": rates, "source": self.name})
