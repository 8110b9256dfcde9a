"""The suite's calendar: every generated window ends on a named day, never "today".

A window that ended "yesterday" moved every day, and with it the weekday alignment and the data,
so a test could pass one day and fail the next on the same commit. Fixtures generate the windows
named here under a frozen clock (:data:`FAKE_TODAY`), and the clock-independence tests regenerate
them under another (:data:`OTHER_FAKE_TODAY`) and compare the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import polars as pl
from sqlalchemy import Engine, select

from aicmo.models.crm import Contact
from aicmo.models.media import Asset
from aicmo.models.publishing import Campaign
from aicmo.storage.lake import Lake

FAKE_TODAY = date(2027, 3, 17)
OTHER_FAKE_TODAY = date(2031, 8, 2)  # another year, another weekday


@dataclass(frozen=True)
class Window:
    """The generator's arguments for one fixture (what decides the data)."""

    contacts: int
    days: int
    seed: int
    end: date

    def computed_at(self) -> datetime:
        """The "now" analytics see for this window: the midnight after its last day."""
        return datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC) + timedelta(days=1)


SAMPLE_DATASET = Window(contacts=6000, days=70, seed=11, end=date(2026, 10, 31))
"""tests/sample: the module-wide generated dataset."""
KPI_SAMPLE = Window(contacts=3000, days=91, seed=7, end=date(2026, 11, 28))
"""tests/analytics/test_sample_analytics.py: 13 weeks, with the injected bounce spike."""
DEMO = Window(contacts=400, days=21, seed=3, end=date(2026, 9, 20))
"""tests/test_demo_and_chains.py: the demo's dataset."""
WORKER_E2E = Window(contacts=300, days=14, seed=5, end=date(2026, 8, 30))
"""tests/test_end_to_end_worker.py: the dataset a real worker runs the deployments on."""

LAKE_TABLES = ("events", "orders", "ad_spend")
CONTACT_COLUMNS = [c for c in Contact.__table__.columns.keys() if c != "updated_at"]  # noqa: SIM118


def _table(engine: Engine, columns: list[str], model: type, order: str) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(getattr(model, c) for c in columns)).order_by(getattr(model, order))
        ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row", infer_schema_length=None)


def snapshot(engine: Engine, lake: Lake) -> dict[str, pl.DataFrame]:
    """What a generated dataset consists of: its lake tables and its store rows."""
    return {
        **{name: lake.scan(name).collect() for name in LAKE_TABLES},
        "contacts": _table(engine, CONTACT_COLUMNS, Contact, "id"),
        "campaigns": _table(engine, ["id", "name", "channel", "utm_campaign", "starts_on"], Campaign, "id"),
        "assets": _table(engine, ["id", "sha256", "phash", "name", "width", "height"], Asset, "id"),
    }


def assert_same_data(a: dict[str, pl.DataFrame], b: dict[str, pl.DataFrame]) -> None:
    """Every table of two snapshots is non-empty and equal, row for row."""
    assert a.keys() == b.keys()
    for name, frame in a.items():
        assert frame.height > 0, name
        assert frame.equals(b[name]), f"{name} differs"
