"""What the fake provider server knows: fixtures in each API's shape, and deterministic synthetic rows.

Companies, GitHub users and cities come from ``fixtures/*.json``; keys outside the fixtures get a
deterministic synthetic answer (or a 'not found') derived from a CRC of the key, so that a 10k
batch gets realistic answers without a 10k-row fixture. Stripe customers, charges and payment
intents are generated from a list of emails and a seed.
"""

from __future__ import annotations

import json
import random
import re
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from typing import Any

from aicmo.tasks.providers.offline_company import describe_domain, is_free_mail

DEFAULT_STRIPE_EMAILS = (
    "ada@acme-widgets.com",
    "grace@contoso.com",
    "linus@initech.com",
    "margaret@fabrikam.com",
    "ken@globex.io",
    "barbara@northwind-traders.com",
    "dennis@gmail.com",
    "octocat@github.com",
    "alan.turing@hooli.xyz",
    "hedy.lamarr@piedpiper.com",
    "katherine.johnson@wayne-enterprises.com",
    "tim.berners-lee@umbrella-corp.co.uk",
    "frances.allen@tyrell.co.jp",
    "john.mccarthy@globex.io",
    "radia.perlman@contoso.com",
)


def _fixture(name: str) -> Any:
    return json.loads(resources.files("aicmo.fakes").joinpath(f"fixtures/{name}").read_text("utf-8"))


def _crc(text: str) -> int:
    return zlib.crc32(text.encode())


@lru_cache(maxsize=1)
def companies() -> dict[str, dict[str, Any]]:
    """Fixture companies by domain."""
    return {c["domain"]: c for c in _fixture("companies.json")}


@lru_cache(maxsize=1)
def github_users() -> dict[str, dict[str, Any]]:
    """Fixture GitHub users by login."""
    return {u["login"]: u for u in _fixture("github_users.json")}


@lru_cache(maxsize=1)
def github_logins_by_email() -> dict[str, str]:
    """Fixture GitHub logins by public email."""
    return {u["email"]: u["login"] for u in github_users().values() if u.get("email")}


@lru_cache(maxsize=1)
def cities() -> dict[str, dict[str, Any]]:
    """Fixture current weather by lower-case city name."""
    return {w["name"].lower(): w for w in _fixture("weather.json")}


def company_for(domain: str) -> dict[str, Any] | None:
    """A Clearbit-shaped company for ``domain``, or None (unknown: about 30% of other domains)."""
    domain = domain.strip().lower()
    if domain in companies():
        return companies()[domain]
    described = describe_domain(domain)
    if described is None or is_free_mail(domain) or _crc(domain) % 10 < 3:
        return None
    h = _crc(domain)
    industries = ("Internet Software & Services", "Professional Services", "Retail", "Banking", "Media")
    countries = ("US", "GB", "DE", "FR", "NL", "SE", "CA", "AU")
    return {
        "id": f"c_{h:08x}",
        "name": described["name"],
        "legalName": f"{described['name']} Ltd",
        "domain": domain,
        "category": {"sector": None, "industry": industries[h % len(industries)]},
        "geo": {"city": None, "countryCode": countries[(h >> 4) % len(countries)]},
        "metrics": {"employees": 10 + h % 5000},
        "foundedYear": 1950 + h % 75,
    }


SYNTH_LOGIN = re.compile(r"^[a-z0-9][a-z0-9-]*-u(\d+)$")


def github_login_for(email: str) -> str | None:
    """The login whose public email is ``email`` (fixtures, else about 40% of emails), or None."""
    email = email.strip().lower()
    if email in github_logins_by_email():
        return github_logins_by_email()[email]
    h = _crc(email)
    if h % 5 >= 2:
        return None
    local = re.sub(r"[^a-z0-9]+", "-", email.split("@")[0]).strip("-") or "user"
    return f"{local[:20]}-u{h % 100000}"


def github_user(login: str) -> dict[str, Any] | None:
    """A GitHub user object for ``login`` (fixture or synthetic), or None."""
    if login in github_users():
        return github_users()[login]
    match = SYNTH_LOGIN.match(login)
    if not match:
        return None
    h = int(match.group(1))
    return {
        "login": login,
        "id": 500_000 + h,
        "html_url": f"https://github.com/{login}",
        "type": "User",
        "name": login.rsplit("-u", 1)[0].replace("-", " ").title(),
        "company": None,
        "blog": "",
        "location": ("Berlin", "London", "Austin", "Toronto", None)[h % 5],
        "email": None,
        "bio": None,
        "public_repos": h % 60,
        "followers": h % 900,
        "following": h % 40,
        "created_at": "2015-03-02T10:00:00Z",
    }


def github_search(email: str) -> dict[str, Any]:
    """A ``/search/users`` body for an email query."""
    login = github_login_for(email)
    items = []
    if login is not None:
        user = github_user(login) or {}
        items.append({k: user.get(k) for k in ("login", "id", "html_url", "type")} | {"score": 1.0})
    return {"total_count": len(items), "incomplete_results": False, "items": items}


STRIPE_CURRENCIES = ("usd", "eur")
"""The currencies of the fake Stripe's payments (one in five is in euros)."""


def stripe_rates_csv() -> str:
    """A rates CSV (``date,currency,rate``, units of USD per unit) covering the fake Stripe's payments:
    a EUR rate on the first of each month of 2025-2027, drifting a little, as a central bank
    publishes them. The demo writes it to ``$AICMO_HOME/rates.csv`` so the orders convert to USD."""
    lines = ["date,currency,rate"]
    for index in range(36):
        year, month = 2025 + index // 12, index % 12 + 1
        rate = 1.08 + 0.02 * ((index * 7) % 5 - 2) / 2
        lines.append(f"{year}-{month:02d}-01,EUR,{rate:.4f}")
    return "\n".join(lines) + "\n"


@dataclass
class StripeData:
    """Customers (newest first), their charges and payment intents, generated from emails."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    charges: list[dict[str, Any]] = field(default_factory=list)
    payment_intents: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def generate(
        cls, emails: tuple[str, ...] | list[str], *, seed: int = 42, guest_emails: tuple[str, ...] = ()
    ) -> StripeData:
        """Customers for ``emails`` with 0-5 payments each (some failed, some refunded), plus
        customer-less guest payments that only carry ``receipt_email``."""
        rng = random.Random(seed)
        start = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
        span = 300 * 86400
        data = cls()
        for index, email in enumerate(emails):
            created = start + rng.randrange(span // 2)
            cid = f"cus_{seed:02d}{index:06d}{rng.randrange(16**6):06x}"
            data.customers.append(
                {
                    "id": cid,
                    "object": "customer",
                    "email": email,
                    "name": email.split("@")[0].replace(".", " ").title(),
                    "created": created,
                    "currency": "usd",
                    "livemode": False,
                    "metadata": {},
                }
            )
            for _ in range(rng.choice((0, 1, 1, 2, 3, 5))):
                data._payment(rng, customer=cid, email=None, after=created, end=start + span)
        for email in guest_emails:
            data._payment(rng, customer=None, email=email, after=start, end=start + span)
        data.customers.sort(key=lambda c: (-c["created"], c["id"]))
        data.charges.sort(key=lambda c: (-c["created"], c["id"]))
        data.payment_intents.sort(key=lambda p: (-p["created"], p["id"]))
        return data

    def _payment(
        self, rng: random.Random, *, customer: str | None, email: str | None, after: int, end: int
    ) -> None:
        n = len(self.charges)
        created = rng.randrange(after, end)
        currency = STRIPE_CURRENCIES[1] if rng.random() < 0.2 else STRIPE_CURRENCIES[0]
        amount = round(rng.lognormvariate(8.5, 0.8))  # median ~ 49.00
        status = "failed" if rng.random() < 0.06 else "succeeded"
        refunded = amount // 2 if status == "succeeded" and rng.random() < 0.05 else 0
        pi_id = f"pi_{n:08d}{rng.randrange(16**8):08x}"
        ch_id = f"ch_{n:08d}{rng.randrange(16**8):08x}"
        self.charges.append(
            {
                "id": ch_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if status == "succeeded" else 0,
                "amount_refunded": refunded,
                "refunded": refunded == amount,
                "currency": currency,
                "customer": customer,
                "created": created,
                "paid": status == "succeeded",
                "status": status,
                "payment_intent": pi_id,
                "receipt_email": email,
                "billing_details": {"email": email},
                "livemode": False,
            }
        )
        self.payment_intents.append(
            {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_received": amount if status == "succeeded" else 0,
                "currency": currency,
                "customer": customer,
                "created": created,
                "status": status if status == "succeeded" else "requires_payment_method",
                "latest_charge": ch_id,
                "receipt_email": email,
                "livemode": False,
            }
        )
