"""Each adapter against the fake server: real URLs, auth, pagination, error bodies, answer shapes."""

from __future__ import annotations

import pytest

from aicmo.fakes.faults import Fault
from aicmo.fakes.provider_server import FakeProviderServer
from aicmo.settings import Settings
from aicmo.tasks.gateway import ProviderError, make_client
from aicmo.tasks.gateway._metrics import ProviderMetrics
from aicmo.tasks.providers.offline_company import describe_domain, is_free_mail, name_from_domain
from aicmo.tasks.providers.registry import build_chains
from aicmo.tasks.providers.stripe import PAGE_REFETCHES, StripeProvider, major_units, payment_amount
from tests.provider_fixtures import settings_for


def stripe_for(server: FakeProviderServer, settings: Settings) -> StripeProvider:
    return StripeProvider(server.base_url, server.credentials["stripe"], settings=settings.gateway)


async def test_stripe_pages_with_starting_after_until_has_more_is_false(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emails = [f"buyer{i}@shop{i % 7}.com" for i in range(250)]
    with FakeProviderServer(stripe_emails=emails) as server:
        settings = settings_for(server, monkeypatch)
        stripe = stripe_for(server, settings)
        metrics = ProviderMetrics("stripe")
        server.faults.fail("stripe.customers", 502)  # one page fails once: retried, not skipped
        async with make_client(settings.gateway) as client:
            customers = [c async for c in stripe.iterate(client, "customers", metrics)]
        assert [c["id"] for c in customers] == [c["id"] for c in server.stripe.customers]
        assert len({c["id"] for c in customers}) == 250
        assert server.request_count("stripe.customers") == 4  # 100 + 100 + 50, one retried
        assert metrics.successes == 3 and metrics.retries == 1


async def test_stripe_error_body_is_reported(settings: Settings, server: FakeProviderServer) -> None:
    stripe = stripe_for(server, settings)
    async with make_client(settings.gateway) as client:
        with pytest.raises(ProviderError) as caught:
            await stripe.list_page(client, "charges", starting_after="ch_does_not_exist")
    assert caught.value.kind == "client_error"
    assert "invalid_request_error No such object: 'ch_does_not_exist'" in str(caught.value)
    assert str(caught.value).startswith("stripe: client_error: HTTP 400")


async def test_stripe_revenue_by_email_sums_succeeded_payments(
    settings: Settings, server: FakeProviderServer
) -> None:
    email = next(
        c["email"]
        for c in server.stripe.customers
        if sum(1 for ch in server.stripe.charges if ch["customer"] == c["id"]) >= 2
    )
    customer = next(c for c in server.stripe.customers if c["email"] == email)
    expected: dict[str, float] = {}
    for charge in server.stripe.charges:
        amount = payment_amount(charge)
        if charge["customer"] == customer["id"] and amount is not None:
            expected[charge["currency"]] = expected.get(charge["currency"], 0.0) + major_units(
                amount, charge["currency"]
            )
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["revenue_by_email"].call(email.upper(), client)
    assert outcome.ok and outcome.found and outcome.value is not None
    assert outcome.value["customer_ids"] == [customer["id"]]
    assert outcome.value["revenue"] == {c: round(v, 2) for c, v in expected.items()}


def test_stripe_amounts_respect_zero_decimal_currencies_and_refunds() -> None:
    assert major_units(1999, "usd") == 19.99
    assert major_units(1999, "jpy") == 1999.0
    charge = {
        "object": "charge",
        "status": "succeeded",
        "amount": 5000,
        "amount_captured": 5000,
        "amount_refunded": 1500,
    }
    assert payment_amount(charge) == 3500
    assert payment_amount({**charge, "status": "failed"}) is None
    intent = {"object": "payment_intent", "status": "succeeded", "amount": 900, "amount_received": 900}
    assert payment_amount(intent) == 900


async def test_github_profile_by_email(settings: Settings, server: FakeProviderServer) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["social_by_email"].call("Grace@Contoso.com", client)
    assert outcome.value == {
        "login": "grace-h",
        "name": "Grace Hopper",
        "company": "Navy",
        "location": "Arlington",
        "followers": 12000,
        "blog": "",
        "html_url": "https://github.com/grace-h",
        "public_repos": 12,
        "bio": None,
        "source": "github",
    }
    assert server.request_count("github.search") == 1 and server.request_count("github.user") == 1


async def test_openweather_current_weather_in_metric_units(settings: Settings) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["weather_by_city"].call("berlin", client)
    assert outcome.ok and outcome.value is not None
    assert outcome.value["city"] == "Berlin" and outcome.value["country"] == "DE"
    assert outcome.value["temp_c"] == 8.4  # Celsius: units=metric was sent
    assert outcome.value["condition"] == "Rain"


async def test_openweather_bad_key_is_an_auth_error(
    server: FakeProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = settings_for(server, monkeypatch)
    monkeypatch.setenv("AICMO_OPENWEATHER_API_KEY", "owm-wrong-key-123456")
    chain = build_chains(Settings(gateway=fast.gateway))["weather_by_city"]
    async with make_client(fast.gateway) as client:
        outcome = await chain.call("Paris", client)
    assert not outcome.ok and outcome.error_kind == "auth"
    assert outcome.error is not None and "Invalid API key" in outcome.error
    assert "owm-wrong-key-123456" not in outcome.error


async def test_company_http_maps_the_clearbit_shape(settings: Settings) -> None:
    async with make_client(settings.gateway) as client:
        outcome = await build_chains(settings)["company_by_domain"].call("umbrella-corp.co.uk", client)
    assert outcome.provider == "company_http" and outcome.value is not None
    assert outcome.value["name"] == "Umbrella"
    assert outcome.value["employees"] == 52000 and outcome.value["country"] == "GB"
    assert outcome.value["industry"] == "Pharmaceuticals"


def test_offline_company_guesses_honestly() -> None:
    assert is_free_mail("GMAIL.com") and not is_free_mail("acme.com")
    assert name_from_domain("acme-widgets.co.uk") == "Acme Widgets"
    assert name_from_domain("www.ibm.com") == "IBM"
    assert describe_domain("northwind-traders.com") == {
        "domain": "northwind-traders.com",
        "name": "Northwind Traders",
        "is_free_mail": False,
        "confidence": "guess",
        "source": "company_offline",
    }
    assert describe_domain("not a domain") is None
    assert describe_domain("localhost") is None


def test_chains_leave_out_unconfigured_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("STRIPE_API_KEY", "GITHUB_TOKEN", "OPENWEATHER_API_KEY", "COMPANY_API_KEY"):
        monkeypatch.delenv(f"AICMO_{name}", raising=False)
    chains = build_chains(Settings())
    assert [p.name for p in chains["company_by_domain"].providers] == ["company_offline"]
    assert all(not chains[c].providers for c in ("social_by_email", "weather_by_city", "revenue_by_email"))


@pytest.mark.parametrize("fault", ["truncated", "malformed"])
async def test_a_broken_stripe_page_is_fetched_again_from_its_cursor_not_from_the_start(
    fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    emails = [f"buyer{i}@shop{i % 7}.com" for i in range(350)]
    with FakeProviderServer(stripe_emails=emails) as server:
        settings = settings_for(server, monkeypatch, timeout_s=10.0)  # requests are counted: no timeouts
        stripe = stripe_for(server, settings)
        metrics = ProviderMetrics("stripe")
        third_page = str(server.stripe.customers[199]["id"])  # page 3 starts after the 200th customer
        # The third page arrives broken twice (a body cut off mid-JSON, or JSON that is not JSON).
        server.faults.add("stripe.customers", Fault(fault), times=2, when=lambda key: key == third_page)
        async with make_client(settings.gateway) as client:
            customers = [c async for c in stripe.iterate(client, "customers", metrics)]
        assert [c["id"] for c in customers] == [c["id"] for c in server.stripe.customers]
        first, second = "", str(server.stripe.customers[99]["id"])
        fourth = str(server.stripe.customers[299]["id"])
        # Pages 1, 2 and 4 once each; page 3 three times, always from the same cursor.
        assert server.stripe_cursors("stripe.customers") == [
            first,
            second,
            third_page,
            third_page,
            third_page,
            fourth,
        ]


async def test_a_stripe_page_broken_every_time_stops_the_sync_naming_where(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emails = [f"buyer{i}@shop{i % 7}.com" for i in range(150)]
    with FakeProviderServer(stripe_emails=emails) as server:
        settings = settings_for(server, monkeypatch, timeout_s=10.0, breaker_failure_threshold=50)
        stripe = stripe_for(server, settings)
        second = str(server.stripe.customers[99]["id"])
        server.faults.add("stripe.customers", Fault("truncated"), times=None, when=lambda key: key == second)
        async with make_client(settings.gateway) as client:
            with pytest.raises(ProviderError) as caught:
                _ = [c async for c in stripe.iterate(client, "customers", ProviderMetrics("stripe"))]
        assert caught.value.kind == "malformed"
        assert f"starting_after={second}" in str(caught.value)
        tries = server.stripe_cursors("stripe.customers").count(second)
        assert tries == 1 + PAGE_REFETCHES  # bounded
