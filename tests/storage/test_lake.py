"""The Parquet lake: round trips, partition pruning, dedupe, atomic overwrite under a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aicmo.models.lake import AD_SPEND, EVENTS, ORDERS, TABLES
from aicmo.storage.lake import Lake, LakeSchemaError


def _events(n: int, day: date, start_id: int = 0) -> pl.DataFrame:
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    data = {
        "event_id": [f"e{start_id + i}" for i in range(n)],
        "ts": [base + timedelta(seconds=i * 7 % 86_000) for i in range(n)],
        "contact_id": [i % 97 for i in range(n)],
        "campaign_id": [i % 5 for i in range(n)],
        "channel": ["email"] * n,
        "type": ["open"] * n,
        "asset_id": [None] * n,
        "revenue": [0.0] * n,
        "cost": [0.001] * n,
        "utm_source": ["newsletter"] * n,
        "utm_medium": ["email"] * n,
        "utm_campaign": ["spring"] * n,
        "utm_content": [None] * n,
    }
    # columns added later to the schema (all nullable) are null here
    return pl.DataFrame({c: data.get(c, [None] * n) for c in EVENTS.names()}, schema=EVENTS)


SAMPLES: dict[str, pl.DataFrame] = {
    "events": _events(50, date(2026, 3, 1)),
    "ad_spend": pl.DataFrame(
        {
            "date": [date(2026, 3, 1), date(2026, 3, 2)],
            "platform": ["google_ads", "meta"],
            "campaign_id": [1, None],
            "campaign": ["Spring search", "Spring social"],
            "ad_set": ["brand", "lookalike"],
            "ad": ["ad-1", "ad-2"],
            "impressions": [10_000, 25_000],
            "clicks": [250, 310],
            "spend": [120.5, 88.0],
            "conversions": [7, 3],
            "conversion_value": [700.0, 240.0],
            "account": ["123-456-7890", "act_1001"],
            "currency": ["USD", "EUR"],
            "spend_local": [120.5, 80.0],
            "conversion_value_local": [700.0, 218.2],
        },
        schema=AD_SPEND,
    ),
    "orders": pl.DataFrame(
        {
            "order_id": ["o1", "o2", "o3"],
            "contact_id": [1, 2, 1],
            "ts": [
                datetime(2026, 3, 1, 10, tzinfo=UTC),
                datetime(2026, 3, 1, 23, 59, tzinfo=UTC),
                datetime(2026, 3, 4, tzinfo=UTC),
            ],
            "amount": [19.99, 250.0, 5.5],
            "currency": ["EUR", "EUR", "USD"],
            "source": ["shop", "stripe", "shop"],
        },
        schema=ORDERS,
    ),
}


@pytest.mark.parametrize("table", sorted(SAMPLES))
def test_every_schema_round_trips(lake: Lake, table: str) -> None:
    df = SAMPLES[table]
    lake.write(table, df)
    back = lake.scan(table).drop("dt").collect()
    spec = TABLES[table]
    assert back.schema == spec.schema
    assert_frame_equal(back.sort(list(spec.key)), df.sort(list(spec.key)))


def test_partitions_are_hive_days_and_scans_prune(lake: Lake) -> None:
    for offset in range(5):
        lake.write("events", _events(10, date(2026, 3, 1) + timedelta(days=offset), start_id=offset * 100))
    root = Path(lake.table_path("events"))
    assert sorted(p.name for p in root.iterdir()) == [f"dt=2026-03-0{d}" for d in range(1, 6)]
    assert (root / "dt=2026-03-02" / "part-0.parquet").is_file()
    assert len(lake.partition_files("events", date(2026, 3, 2), date(2026, 3, 3))) == 2
    scanned = lake.scan("events", date(2026, 3, 2), date(2026, 3, 3)).collect()
    assert scanned.height == 20
    assert set(scanned["dt"].to_list()) == {date(2026, 3, 2), date(2026, 3, 3)}


def test_duplicate_event_ids_are_dropped_and_overwrite_is_idempotent(lake: Lake) -> None:
    day = date(2026, 3, 1)
    df = _events(30, day)
    doubled = pl.concat([df, df.head(10)])
    assert lake.write("events", doubled, mode="overwrite") == {day: 30}
    assert lake.write("events", doubled, mode="overwrite") == {day: 30}
    assert lake.scan("events").collect().height == 30
    # merge keeps what is there and adds only new ids
    assert lake.write("events", _events(40, day), mode="merge") == {day: 40}


def test_bad_frame_is_rejected_with_the_table_named(lake: Lake) -> None:
    bad = SAMPLES["orders"].with_columns(pl.lit("not-a-number").alias("amount"))
    with pytest.raises(LakeSchemaError, match="orders"):
        lake.write("orders", bad)
    with pytest.raises(LakeSchemaError, match="missing required"):
        lake.write("orders", SAMPLES["orders"].drop("order_id"))
    assert lake.partitions("orders") == []


def test_rewrite_partitions_changes_only_what_it_must(lake: Lake) -> None:
    lake.write("events", _events(20, date(2026, 3, 1)))
    lake.write("events", _events(20, date(2026, 3, 2), start_id=1000))
    untouched = Path(lake.partition_path("events", date(2026, 3, 2))).stat().st_mtime_ns
    changed = lake.rewrite_partitions("events", lambda df: df.filter(pl.col("event_id") != "e3"))
    assert changed == {date(2026, 3, 1): (20, 19)}
    assert Path(lake.partition_path("events", date(2026, 3, 2))).stat().st_mtime_ns == untouched


WRITER = textwrap.dedent(
    """
    import io, sys, time
    from datetime import date
    import polars as pl
    from aicmo.storage.lake import Lake
    import aicmo.storage.lake as lake_mod

    lake = Lake(sys.argv[1])
    real_write = pl.DataFrame.write_parquet

    def slow_write(self, fh, **kw):
        # write half of the file's bytes, announce it, then hang until killed
        buf = io.BytesIO()
        real_write(self, buf, **kw)
        data = buf.getvalue()
        fh.write(data[: len(data) // 2])
        fh.flush()
        print("WRITING", flush=True)
        time.sleep(60)

    pl.DataFrame.write_parquet = slow_write
    n = 80_000
    df = pl.DataFrame({"event_id": [f"new{i}" for i in range(n)],
                       "ts": pl.datetime_range(pl.datetime(2026, 3, 1, time_zone="UTC"),
                                               pl.datetime(2026, 3, 1, 23, time_zone="UTC"),
                                               interval="1s", eager=True, time_zone="UTC")[:n],
                       "contact_id": list(range(n)), "campaign_id": [1] * n,
                       "channel": ["email"] * n, "type": ["click"] * n})
    lake.write_partition("events", date(2026, 3, 1), df)
    """
)


def test_killing_a_write_midway_leaves_the_old_partition(lake: Lake, tmp_path: Path) -> None:
    day = date(2026, 3, 1)
    old = _events(25, day)
    lake.write("events", old)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), lake.root], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and "WRITING" not in line:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
    assert "WRITING" in line, "writer never reached the middle of its write"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    after = lake.read_partition("events", day)
    assert_frame_equal(after.sort("event_id"), old.sort("event_id"))
    assert lake.scan("events").collect().height == 25
    # the interrupted temp file is invisible to readers and cleaned by the next write
    leftovers = list(Path(lake.partition_path("events", day)).parent.glob("*.inprogress"))
    assert leftovers, "the killed writer should have left its temp file behind"
    lake.write("events", old, mode="overwrite")
    assert lake.scan("events").collect().height == 25
