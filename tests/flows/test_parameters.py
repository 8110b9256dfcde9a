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
from aicmo.flows.experiments import experiments
from aicmo.flows.generate import generate_sample_data
from aicmo.flows.media import media_suggest
from aicmo.flows.params import check_range
from aicmo.flows.publish import publish_campaigns
from aicmo.flows.retention import retention
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
    experiments,
    generate_sample_data,
    media_suggest,
    publish_campaigns,
    retention,
    sync_stripe_revenue,
    score,
    tracking_flush,
]


def test_every_deployed_flow_is_checked_here() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    deployed = {d["entrypoint"].split(":")[1] for d in config["deployments"]}
    assert deployed == {fl.fn.__name__ for fl in FLOWS}


def _properties(fl: Flow[Any, Any]) -> dict[str, Any]:
    return parameter_schema(fl).model_dump_for_openapi()["properties"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("fl", FLOWS, ids=lambda f: f.name)
def test_every_parameter_has_help_in_the_form(fl: Flow[Any, Any]) -> None:
    missing = [name for name, prop in _properties(fl).items() if not prop.get("description")]
    assert not missing, f"{fl.name}: parameters without a description: {missing}"


def _date_fields(fl: Flow[Any, Any]) -> dict[str, dict[str, Any]]:
    """Each date parameter's schema (the non-null member of an optional one)."""
    found = {}
    for name, prop in _properties(fl).items():
        for member in [prop, *prop.get("anyOf", [])]:
            if member.get("format") == "date":
                found[name] = member
    return found


@pytest.mark.parametrize("fl", FLOWS, ids=lambda f: f.name)
@pytest.mark.parametrize("bad", ["notadate", "2026-13-01", "2026-6-1", "2026-06-01T00:00:00"])
def test_the_server_refuses_a_bad_date_before_a_run_is_created(fl: Flow[Any, Any], bad: str) -> None:
    """The server checks a run's parameters with this function (formats unchecked) and answers 409."""
    from prefect.utilities.schema_tools.validation import ValidationError, validate

    schema = parameter_schema(fl).model_dump_for_openapi()
    for name in _date_fields(fl):
        with pytest.raises(ValidationError, match=name):
            validate({name: bad}, schema, raise_on_error=True, ignore_required=True)
        validate({name: "2026-02-28"}, schema, raise_on_error=True, ignore_required=True)


def test_the_flows_with_dates_are_the_ones_expected() -> None:
    with_dates = {fl.name: sorted(_date_fields(fl)) for fl in FLOWS if _date_fields(fl)}
    assert with_dates == {
        "ads": ["end", "start", "today"],
        "aggregate": ["end", "start"],
        "backfill": ["end", "start"],
        "backfill-day": ["day"],
        "daily-pipeline": ["run_date"],
        "generate-sample-data": ["end"],
        "retention": ["as_of"],
        "score": ["as_of"],
    }


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
