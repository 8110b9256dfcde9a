"""Platform adapters against the local fake Meta and Google Ads servers: reads, changes, errors, rate limits, the change log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select

from aicmo.fakes.ads_platforms import GOOGLE_CUSTOMER, META_ACCOUNT, FakeAdPlatforms
from aicmo.models.ads import AdChange
from aicmo.settings import AdsSettings
from aicmo.storage.db import transaction
from aicmo.tasks.ads.changes import Change, apply_changes
from aicmo.tasks.ads.connect import connect
from aicmo.tasks.ads.platforms import AdPlatform, PlatformError, RetryPolicy


@pytest.fixture
def fake() -> Iterator[FakeAdPlatforms]:
    with FakeAdPlatforms() as server:
        yield server


def _settings(fake: FakeAdPlatforms, **overrides: str) -> AdsSettings:
    env = {k.removeprefix("AICMO_ADS_").lower(): v for k, v in fake.settings_env().items()}
    return AdsSettings(**{**env, **overrides})  # type: ignore[arg-type]


def _platform(fake: FakeAdPlatforms, name: str, waits: list[float], **overrides: str) -> AdPlatform:
    account = META_ACCOUNT if name == "meta" else "123-456-7890"
    platform = connect(
        name, account, _settings(fake, **overrides), RetryPolicy(max_attempts=3, max_wait_s=120)
    )
    platform._sleep = waits.append  # record the waits instead of sleeping
    return platform


@pytest.mark.parametrize("name", ["meta", "google_ads"])
def test_read_then_change_budget_bid_and_status(fake: FakeAdPlatforms, name: str) -> None:
    platform = _platform(fake, name, [])
    ad_sets = platform.list_ad_sets()
    assert len(ad_sets) == 2 and all(a.status == "ACTIVE" and a.daily_budget for a in ad_sets)
    first = ad_sets[0]
    platform.set_daily_budget(first, 62.5)
    platform.set_bid(first, 1.35)
    platform.set_status(first, active=False)
    again = {a.id: a for a in platform.list_ad_sets()}[first.id]
    assert (again.daily_budget, again.bid, again.status) == (62.5, 1.35, "PAUSED")
    platform.set_status(first, active=True)
    assert {a.id: a for a in platform.list_ad_sets()}[first.id].status == "ACTIVE"


def test_meta_pages_through_ad_sets(fake: FakeAdPlatforms) -> None:
    platform = _platform(fake, "meta", [])
    first = next(iter(fake.state.meta_adsets.values()))
    for i in range(3):
        fake.state.meta_adsets[f"99{i}"] = {**first, "id": f"99{i}", "name": f"extra {i}"}
    ids = [a.id for a in platform.list_ad_sets()]
    assert len(ids) == 5 and len(set(ids)) == 5


@pytest.mark.parametrize(
    ("name", "regain_minutes", "wait_s"), [("meta", 0.5, 30.0), ("google_ads", 0.25, 15.0)]
)
def test_rate_limit_is_waited_out_as_the_platform_asks(
    fake: FakeAdPlatforms, name: str, regain_minutes: float, wait_s: float
) -> None:
    waits: list[float] = []
    platform = _platform(fake, name, waits)
    fake.throttle(name, times=2, regain_minutes=regain_minutes)
    assert len(platform.list_ad_sets()) == 2
    assert waits == [wait_s, wait_s]


def test_rate_limit_longer_than_allowed_fails_with_the_platform_message(fake: FakeAdPlatforms) -> None:
    platform = _platform(fake, "google_ads", [])
    fake.throttle("google_ads", times=5, regain_minutes=10)
    with pytest.raises(
        PlatformError, match=r"RESOURCE_EXHAUSTED: Too many requests.*more than the 120 s allowed"
    ):
        platform.list_ad_sets()


def test_server_errors_are_retried(fake: FakeAdPlatforms) -> None:
    waits: list[float] = []
    platform = _platform(fake, "meta", waits)
    fake.server_error("meta", times=2)
    assert len(platform.list_ad_sets()) == 2 and len(waits) == 2


@pytest.mark.parametrize(
    ("name", "amount", "needle"),
    [
        ("meta", 0.5, r"minimum budget for this ad set is \$1.00. \[code 100/1885272\]"),
        (
            "google_ads",
            10.005,
            r"INVALID_ARGUMENT: .*multiple of the minimum currency unit.*NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
        ),
    ],
)
def test_refused_change_carries_the_platform_error(
    fake: FakeAdPlatforms, name: str, amount: float, needle: str
) -> None:
    platform = _platform(fake, name, [])
    ad_set = platform.list_ad_sets()[0]
    with pytest.raises(PlatformError, match=needle) as info:
        platform.set_daily_budget(ad_set, amount)
    assert info.value.http_status == 400 and info.value.attempts == 1  # not retried


@pytest.mark.parametrize(
    ("name", "override"),
    [("meta", {"meta_access_token": "wrong"}), ("google_ads", {"google_ads_developer_token": "nope"})],
)
def test_bad_credentials_are_named_by_the_platform(
    fake: FakeAdPlatforms, name: str, override: dict[str, str]
) -> None:
    platform = _platform(fake, name, [], **override)
    with pytest.raises(PlatformError) as info:
        platform.list_ad_sets()
    assert (
        ("access token" in str(info.value))
        if name == "meta"
        else ("developer token is not valid" in str(info.value))
    )
    assert "wrong" not in str(info.value) and "nope" not in str(info.value)


def test_changes_are_logged_with_inputs_and_answers_and_dry_run_changes_nothing(
    fake: FakeAdPlatforms, sqlite_engine: Engine
) -> None:
    platform = _platform(fake, "meta", [])
    first, second = platform.list_ad_sets()
    changes = [
        Change("set_budget", first, 70.0, reason="allocation"),
        Change("set_budget", second, 0.25, reason="allocation"),  # below Meta's minimum: refused
        Change("pause", second),
    ]
    dry = apply_changes(platform, changes, sqlite_engine, dry_run=True)
    assert [o.status for o in dry] == ["dry_run"] * 3
    assert "daily budget of Prospecting / Lookalike 1%" in dry[0].change.describe()
    assert fake.state.meta_adsets[first.id]["daily_budget"] == "5000"  # untouched

    done = apply_changes(platform, changes, sqlite_engine, dry_run=False)
    assert [o.status for o in done] == ["applied", "failed", "applied"]
    assert fake.state.meta_adsets[first.id]["daily_budget"] == "7000"
    assert fake.state.meta_adsets[second.id]["status"] == "PAUSED"
    with transaction(sqlite_engine) as session:
        log = list(session.scalars(select(AdChange).order_by(AdChange.id)))
    assert len(log) == 6
    applied = log[3]
    assert applied.inputs["value"] == 70.0 and applied.inputs["previous"] == 50.0
    assert applied.response == {"success": True} and applied.http_status == 200
    failed = log[4]
    assert failed.status == "failed" and failed.response is not None
    assert failed.response["error"]["code"] == 100 and "minimum budget" in str(failed.error)


def test_google_budget_change_goes_to_the_campaign_budget(fake: FakeAdPlatforms) -> None:
    platform = _platform(fake, "google_ads", [])
    group = platform.list_ad_sets()[0]
    platform.set_daily_budget(group, 55.0)
    assert fake.state.google_budgets[str(group.budget_id)]["amountMicros"] == "55000000"
    method, body = fake.state.requests[-1][1], fake.state.requests[-1][2]
    assert method == f"POST /v18/customers/{GOOGLE_CUSTOMER}/campaignBudgets:mutate"
    assert body["operations"][0]["updateMask"] == "amount_micros"


def test_meta_insights_ask_for_daily_ad_set_rows(fake: FakeAdPlatforms) -> None:
    from datetime import date

    from aicmo.tasks.ads.meta_api import MetaAdsPlatform

    platform = _platform(fake, "meta", [])
    assert isinstance(platform, MetaAdsPlatform)
    rows = platform.insights(date(2026, 11, 12), date(2026, 11, 12))
    assert {r["adset_name"] for r in rows} == {"Lookalike 1%", "Site visitors 30d"}
    query = fake.state.requests[-1][2]
    assert query["level"] == "adset" and query["time_increment"] == "1"
    assert '"since": "2026-11-12"' in query["time_range"]
