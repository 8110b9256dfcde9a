"""Same seed and arguments, same data; a rerun into the same store and lake duplicates nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, select

from aicmo import clock
from aicmo.models.crm import Contact
from aicmo.models.media import Asset
from aicmo.models.publishing import Campaign
from aicmo.models.runs import LakePartitionState
from aicmo.storage.lake import Lake
from tests.fixed_days import DEMO, FAKE_TODAY, OTHER_FAKE_TODAY, Window, assert_same_data, snapshot
from tests.sample.conftest import Generated, generate_into

CONTACT_COLUMNS = [c for c in Contact.__table__.columns.keys() if c != "updated_at"]  # noqa: SIM118


def _lake_frames(lake: Lake) -> dict[str, pl.DataFrame]:
    return {name: lake.scan(name).collect() for name in ("events", "orders", "ad_spend")}


def _table(engine: Engine, columns: list[str], model: type, order: str) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*(getattr(model, c) for c in columns)).order_by(getattr(model, order))
        ).all()
    return pl.DataFrame([tuple(r) for r in rows], schema=columns, orient="row", infer_schema_length=None)


def _snapshot(gen: Generated) -> dict[str, pl.DataFrame]:
    return {
        **_lake_frames(gen.lake),
        "contacts": _table(gen.engine, CONTACT_COLUMNS, Contact, "id"),
        "campaigns": _table(
            gen.engine, ["id", "name", "channel", "utm_campaign", "starts_on"], Campaign, "id"
        ),
        "assets": _table(gen.engine, ["id", "sha256", "phash", "name", "width", "height"], Asset, "id"),
    }


def test_same_seed_gives_identical_data_and_another_seed_does_not(tmp_path: Path) -> None:
    a = generate_into(tmp_path / "a", contacts=1500, days=21, seed=5)
    b = generate_into(tmp_path / "b", contacts=1500, days=21, seed=5)
    c = generate_into(tmp_path / "c", contacts=1500, days=21, seed=6)
    snap_a, snap_b, snap_c = _snapshot(a), _snapshot(b), _snapshot(c)
    for name, frame in snap_a.items():
        assert frame.height > 0, name
        assert frame.equals(snap_b[name]), name
    assert not snap_a["events"].equals(snap_c["events"])
    assert not snap_a["contacts"].equals(snap_c["contacts"])
    truth_a, truth_b = a.summary.truth, b.summary.truth
    assert truth_a == truth_b
    for asset in snap_a["assets"]["name"]:
        assert (a.root / "assets" / asset).read_bytes() == (b.root / "assets" / asset).read_bytes()


def test_rerun_into_the_same_store_and_lake_duplicates_nothing(engine: Engine, tmp_path: Path) -> None:
    first = generate_into(tmp_path, contacts=1200, days=14, seed=3, engine=engine)
    before = _snapshot(first)
    second = generate_into(tmp_path, contacts=1200, days=14, seed=3, engine=engine)
    after = _snapshot(second)
    for name, frame in before.items():
        assert frame.equals(after[name]), name
    assert after["events"]["event_id"].n_unique() == after["events"].height
    assert second.summary.events == first.summary.events == after["events"].height
    with engine.connect() as conn:
        states = conn.execute(select(LakePartitionState.table_name, LakePartitionState.rows)).all()
    per_table = pl.DataFrame([tuple(s) for s in states], schema=["table", "rows"], orient="row")
    sums = dict(
        per_table.group_by("table")
        .agg(pl.col("rows").sum(), pl.len().alias("n"))
        .select("table", "rows")
        .iter_rows()
    )
    assert sums["events"] == first.summary.events
    assert sums["orders"] == first.summary.orders
    assert len(first.lake.partitions("events")) == 14


@pytest.mark.parametrize("window", [DEMO], ids=["demo window"])
def test_fixture_windows_give_the_same_data_on_two_different_todays(window: Window, tmp_path: Path) -> None:
    made = []
    for today, folder in ((FAKE_TODAY, "a"), (OTHER_FAKE_TODAY, "b")):
        with clock.frozen(today):
            made.append(
                generate_into(
                    tmp_path / folder,
                    contacts=window.contacts,
                    days=window.days,
                    seed=window.seed,
                    end=window.end,
                )
            )
    a, b = made
    assert a.summary.end == b.summary.end == window.end
    assert_same_data(snapshot(a.engine, a.lake), snapshot(b.engine, b.lake))
    assert a.summary.truth == b.summary.truth


def test_without_an_end_day_the_window_ends_yesterday_by_the_clock(tmp_path: Path) -> None:
    for today, folder in ((FAKE_TODAY, "a"), (OTHER_FAKE_TODAY, "b")):
        with clock.frozen(today):
            gen = generate_into(tmp_path / folder, contacts=200, days=7, seed=1, end=None)
        assert gen.summary.end == today - timedelta(days=1)
        assert gen.lake.partitions("events")[-1] <= gen.summary.end
