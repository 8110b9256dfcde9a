"""The deployments' forms: every parameter has help and limits, and bad values are refused before a run."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from prefect.exceptions import ParameterTypeError
from prefect.flows import Flow
from prefect.utilities.callables import parameter_schema

from aicmo.errors import InputError
from aicmo.flows.ads import ads
from aicmo.flows.aggregate import aggregate
from aicmo.flows.backfill import backfill, backfill_day
from aicmo.flows.daily import daily_pipeline
from aicmo.flows.enrich import enrich_contacts
from aicmo.flows.generate import generate_sample_data
from aicmo.flows.media import media_suggest
from aicmo.flows.params import check_range
from aicmo.flows.publish import publish_campaigns
from aicmo.flows.revenue_sync import sync_stripe_revenue
from aicmo.flows.score import score
from aicmo.flows.tracking import tracking_flush

ROOT = Path(__file__).resolve().parents[2]
FLOWS: list[Flow[Any, Any]] = [
    ads,
    aggregate,
    backfill,
    backfill_day,
    daily_pipeline,
    enrich_contacts,
    generate_sample_data,
    media_suggest,
    publish_campaigns,
    sync_stripe_revenue,
    score,
    tracking_flush,
]


def _properties(fl: Flow[Any, Any]) -> dict[str, Any]:
    return parameter_schema(fl).model_dump_for_openapi()["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("fl", FLOWS, ids=lambda f: f.name)
def test_every_parameter_has_help_in_the_form(fl: Flow[Any, Any]) -> None:
    missing = [name for name, prop in _properties(fl).items() if not prop.get("description")]
    assert not missing, f"{fl.name}: parameters without a description: {missing}"


def test_the_backfill_form_offers_dates_choices_and_limits() -> None:
    props = _properties(backfill)
    assert props["start"]["format"] == props["end"]["format"] == "date"
    assert (props["max_parallel"]["minimum"], props["max_parallel"]["maximum"]) == (1, 16)
    assert props["reprocess"]["enum"] == ["none", "failed", "all"]
    assert props["steps"]["items"]["enum"] == ["aggregate", "ads", "score"]
    assert _properties(sync_stripe_revenue)["source"]["enum"] == ["charges", "payment_intents"]
    assert _properties(enrich_contacts)["batch_size"]["minimum"] == 1
    assert _properties(daily_pipeline)["steps"]["anyOf"][0]["items"]["enum"][:2] == ["enrich", "publish"]


@pytest.mark.parametrize(
    ("fl", "params", "needle"),
    [
        (backfill, {"start": "notadate", "end": "2026-06-10"}, "start"),
        (backfill, {"start": "2026-06-01", "end": "2026-06-10", "max_parallel": 0}, "max_parallel"),
        (backfill, {"start": "2026-06-01", "end": "2026-06-10", "reprocess": "some"}, "reprocess"),
        (backfill, {"start": "2026-06-01", "end": "2026-06-10", "steps": ["publish"]}, "steps"),
        (sync_stripe_revenue, {"source": "refunds"}, "source"),
        (enrich_contacts, {"batch_size": 0}, "batch_size"),
        (generate_sample_data, {"days": 0}, "days"),
    ],
)
def test_bad_values_are_refused_before_the_run(
    fl: Flow[Any, Any], params: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ParameterTypeError) as caught:
        fl.validate_parameters(params)
    assert needle in str(caught.value)


def test_prefect_deploy_reads_the_same_limits_from_the_source() -> None:
    from prefect.utilities.callables import parameter_schema_from_entrypoint

    props = parameter_schema_from_entrypoint(f"{ROOT}/flows/backfill.py:backfill").model_dump_for_openapi()[
        "properties"
    ]
    assert props["max_parallel"]["minimum"] == 1 and props["reprocess"]["enum"] == ["none", "failed", "all"]
    assert props["end"]["description"].startswith("Last day")


def test_good_values_are_converted() -> None:
    checked = backfill.validate_parameters({"start": "2026-06-01", "end": "2026-06-10", "steps": ["ads"]})
    assert checked["start"] == date(2026, 6, 1) and checked["steps"] == ["ads"]


def test_an_end_before_its_start_is_one_line() -> None:
    with pytest.raises(InputError, match=r"^end 2026-06-01 is before start 2026-06-10$"):
        check_range(date(2026, 6, 10), date(2026, 6, 1))
    with pytest.raises(InputError, match="spans more than 3 days"):
        check_range(date(2026, 6, 1), date(2026, 6, 10), max_days=3)
