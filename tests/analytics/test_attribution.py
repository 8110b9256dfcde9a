"""Attribution: journeys, each model's credits worked out by hand, Markov removal effects, sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicmo.storage.lake import Lake
from aicmo.tasks.analytics.attribution import MODELS, attribute, attribute_lake, write_credits
from aicmo.tasks.analytics.journeys import build_journeys
from tests.analytics.kpi_helpers import D1, D2, D3, EventLog, at

NOW = datetime(2026, 4, 1, tzinfo=UTC)


def three_contacts() -> EventLog:
    """Contact 1: email open, ads click, search click, converts (100). Contact 2: email click,
    converts (50), opens email again later without converting. Contact 3: ads click only.
    Contact 4 converts (7) with no touchpoint at all."""
    log = EventLog()
    log.add("open", 1, at(D1, 9)).add("click", 1, at(D1, 10), channel="ads", campaign=2)
    log.add("click", 1, at(D2, 9), channel="search", campaign=None).add(
        "convert", 1, at(D2, 10), revenue=100.0
    )
    log.add("click", 2, at(D1, 9)).add("convert", 2, at(D1, 12), revenue=50.0).add("open", 2, at(D3, 9))
    log.add("click", 3, at(D1, 9), channel="ads", campaign=2)
    log.add("convert", 4, at(D1, 9), revenue=7.0)
    return log


def _credits(result_credits: pl.DataFrame, model: str, value: str = "conversions") -> dict[str, float]:
    frame = result_credits.filter(pl.col("model") == model).group_by("channel").agg(pl.col(value).sum())
    return {ch: round(v, 6) for ch, v in frame.iter_rows() if v}


def test_rule_based_models_by_hand() -> None:
    result = attribute(three_contacts().frame().lazy(), lookback_days=30, half_life_days=7)
    assert (result.conversions, result.credited_conversions, result.unattributed_conversions) == (3, 2, 1)
    assert (result.revenue, result.credited_revenue) == (157.0, 150.0)
    assert _credits(result.credits, "first_touch") == {"email": 2.0}
    assert _credits(result.credits, "last_touch") == {"email": 1.0, "search": 1.0}
    assert _credits(result.credits, "linear") == pytest.approx(
        {"email": 4 / 3, "ads": 1 / 3, "search": 1 / 3}
    )
    assert _credits(result.credits, "position_based") == pytest.approx(
        {"email": 1.4, "ads": 0.2, "search": 0.4}
    )
    assert _credits(result.credits, "position_based", "revenue") == pytest.approx(
        {"email": 90.0, "ads": 20.0, "search": 40.0}
    )
    # time decay, half-life 7 days: ages 25 h, 24 h and 1 h before the 100 conversion
    w = [2 ** (-h / (7 * 24)) for h in (25, 24, 1)]
    expected = {"email": 1 + w[0] / sum(w), "ads": w[1] / sum(w), "search": w[2] / sum(w)}
    assert _credits(result.credits, "time_decay") == pytest.approx(expected, abs=1e-6)


def test_markov_removal_effects_by_hand() -> None:
    # paths: email>ads>search>conv, email>conv, email>null, ads>null; P(conv) = 1/2;
    # without email 1/8 (effect 3/4), without ads or search 1/4 (effect 1/2)
    result = attribute(three_contacts().frame().lazy(), lookback_days=30, half_life_days=7)
    assert result.markov.p_conversion == pytest.approx(0.5)
    assert result.markov.removal_effects == pytest.approx({"ads": 0.5, "email": 0.75, "search": 0.5})
    # standard Markov: the 2 credited conversions split by the shares 0.75 : 0.5 : 0.5
    assert _credits(result.credits, "markov") == pytest.approx(
        {"email": 2 * 0.75 / 1.75, "ads": 2 * 0.5 / 1.75, "search": 2 * 0.5 / 1.75}
    )
    # value chain: exits worth 100 (search) and 50 (email); V = 37.5, and 12.5 without any one
    # channel, so every value removal effect is 2/3 and the 150 of revenue splits in thirds
    assert result.markov.value_removal_effects == pytest.approx(
        {"ads": 2 / 3, "email": 2 / 3, "search": 2 / 3}
    )
    assert _credits(result.credits, "markov", "revenue") == pytest.approx(
        {"email": 50.0, "ads": 50.0, "search": 50.0}
    )
    # per journey: the 3-touch journey splits 0.75 : 0.5 : 0.5; the email-only journey goes to email
    assert _credits(result.credits, "markov_journey") == pytest.approx(
        {"email": 1 + 0.75 / 1.75, "ads": 0.5 / 1.75, "search": 0.5 / 1.75}
    )
    by_campaign = result.by_campaign()
    assert by_campaign.filter(pl.col("campaign_id") == 2)["markov_journey"].item() == pytest.approx(
        0.5 / 1.75
    )
    # standard Markov per day: each day's one conversion times the shares. Ads' day-2 share goes to
    # campaign 2 (its click is in day 2's journey); on day 1 ads touched no converted journey, so
    # its day-1 share stays with no campaign
    markov_days = result.credits.filter((pl.col("model") == "markov") & (pl.col("channel") == "ads"))
    assert sorted(markov_days.select("day", "campaign_id").rows(), key=str) == [(D1, None), (D2, 2)]
    assert by_campaign.filter(pl.col("campaign_id") == 2)["markov"].item() == pytest.approx(0.5 / 1.75)
    per_day = (
        result.credits.filter(pl.col("model") == "markov").group_by("day").agg(pl.col("conversions").sum())
    )
    assert per_day.sort("day")["conversions"].to_list() == pytest.approx([1.0, 1.0])


def test_journeys_respect_lookback_and_start_after_the_previous_conversion() -> None:
    log = EventLog()
    log.add("click", 1, at(D1) - timedelta(days=40), channel="social", campaign=None)  # too old
    log.add("click", 1, at(D1, 8), channel="ads", campaign=2).add("convert", 1, at(D1, 9), revenue=10.0)
    log.add("open", 1, at(D2, 8)).add("convert", 1, at(D2, 9), revenue=20.0)
    journeys = build_journeys(log.frame().lazy(), lookback_days=30)
    converted = journeys.converted_touches.sort("ts")
    assert converted.select("channel", "revenue", "position", "n_touches").rows() == [
        ("ads", 10.0, 0, 1),
        ("email", 20.0, 0, 1),
    ]
    old = journeys.touches.filter(~pl.col("converted"))
    assert old.get_column("channel").to_list() == ["social"] and old["journey"].item() < 0
    result = attribute(log.frame().lazy(), lookback_days=30, half_life_days=7)
    assert _credits(result.credits, "first_touch", "revenue") == {"ads": 10.0, "email": 20.0}


event_rows = st.lists(
    st.tuples(
        st.integers(1, 6),  # contact
        st.integers(0, 60 * 24),  # minute offset, two months
        st.sampled_from(["open", "click", "click", "convert"]),
        st.sampled_from(["email", "sms", "ads", "search"]),
        st.floats(0, 500, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=event_rows, lookback=st.integers(1, 30), half_life=st.floats(0.5, 30))
def test_every_model_credits_exactly_the_credited_conversions_and_revenue(
    rows: list[tuple[int, int, str, str, float]], lookback: int, half_life: float
) -> None:
    log = EventLog()
    start = at(D1, 0)
    for contact, minute, kind, channel, value in rows:
        log.add(
            kind,
            contact,
            start + timedelta(minutes=minute * 60),
            channel=channel,
            revenue=value if kind == "convert" else None,
        )
    result = attribute(log.frame().lazy(), lookback_days=lookback, half_life_days=half_life)
    totals = result.credits.group_by("model").agg(pl.col("conversions").sum(), pl.col("revenue").sum())
    assert result.credited_conversions <= result.conversions
    for model in MODELS:
        row = totals.filter(pl.col("model") == model)
        conversions = row["conversions"].sum() if row.height else 0.0
        revenue = row["revenue"].sum() if row.height else 0.0
        assert conversions == pytest.approx(result.credited_conversions, abs=1e-9), model
        assert revenue == pytest.approx(result.credited_revenue, rel=1e-9, abs=1e-6), model
    assert (result.credits["conversions"] >= -1e-12).all()


def test_lake_window_credits_only_its_days_and_leaves_out_bad_events(lake: Lake) -> None:
    log = three_contacts()
    log.add("click", 5, at(D2, 8), campaign=99).add("convert", 5, at(D2, 9), revenue=30.0)  # unknown campaign
    lake.write("events", log.frame())
    result = attribute_lake(lake, D2, D3, {1, 2}, NOW, lookback_days=30, half_life_days=7)
    # only contact 1's conversion (day 2) is in the window; contact 5's touch is a bad event
    assert (result.conversions, result.credited_conversions) == (2, 1)
    assert _credits(result.credits, "first_touch") == {"email": 1.0}
    written = write_credits(lake, result.credits, [D2, D3])
    assert written[D3] == 0 and lake.read_partition("attribution", D3).height == 0
    stored = lake.scan("attribution").collect()
    assert stored.filter(pl.col("model") == "linear")["revenue"].sum() == pytest.approx(100.0)
