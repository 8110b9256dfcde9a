"""Builders of the experiment tests: a campaign with variants, and tracking events and orders in the lake."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import polars as pl

from aicmo.models.lake import ORDERS
from aicmo.storage.lake import Lake
from aicmo.tasks.publishing.definition import parse_definition
from tests.publishing.helpers import email_definition


def ab_definition(name: str, contact_ids: list[int], **experiment: Any) -> Any:
    """An email campaign whose subject is tested: A (control) against B."""
    base = email_definition(name, contact_ids).model_dump(mode="json", by_alias=True, exclude_none=True)
    base["experiment"] = {
        "variants": [
            {"name": "A"},
            {"name": "B", "message": {"subject": "B: last days, {{ contact.first_name }}"}},
        ],
        "metric": "click",
        "baseline": 0.1,
        "mde": 0.2,
        "holdout": 0.1,
        "stratify_by": "none",
        "deadline_h": 48,
        **experiment,
    }
    return parse_definition(base)


def write_clicks(
    lake: Lake, campaign_id: int, contact_ids: list[int], at: datetime, *, machine: bool
) -> None:
    """One click per contact (by a person, or by a link scanner when ``machine``)."""
    n = len(contact_ids)
    tag = "scan" if machine else "human"
    frame = pl.DataFrame(
        {
            "event_id": [f"test-{tag}-{campaign_id}-{cid}" for cid in contact_ids],
            "ts": [at] * n,
            "contact_id": contact_ids,
            "campaign_id": [campaign_id] * n,
            "channel": ["email"] * n,
            "type": ["click"] * n,
            "provider": ["redirect"] * n,
            "is_machine": [machine] * n,
            "user_agent_class": ["scanner" if machine else "browser"] * n,
        }
    )
    lake.write("events", frame.with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC"))), mode="merge")


def write_orders(lake: Lake, amounts: dict[int, float], at: datetime) -> None:
    """One order per contact."""
    frame = pl.DataFrame(
        {
            "order_id": [f"o-{cid}" for cid in amounts],
            "contact_id": list(amounts),
            "ts": [at] * len(amounts),
            "amount": list(amounts.values()),
            "currency": ["EUR"] * len(amounts),
            "source": ["test"] * len(amounts),
        },
        schema=ORDERS,
    )
    lake.write("orders", frame, mode="merge")
