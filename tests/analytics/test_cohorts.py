"""Cohort retention and revenue matrices, and their heatmaps."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from PIL import Image

from aicmo.tasks.analytics.cohorts import cohort_matrix, cohort_table, heatmap_png


def _orders(rows: list[tuple[int, str, float]]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "contact_id": [r[0] for r in rows],
            "ts": [datetime.fromisoformat(r[1]).replace(tzinfo=UTC) for r in rows],
            "amount": [r[2] for r in rows],
        }
    )


@pytest.fixture
def cohort_orders() -> pl.LazyFrame:
    return _orders(
        [
            # January cohort: 1, 2, 3
            (1, "2025-01-05", 10.0),
            (1, "2025-01-20", 5.0),  # second order in the same month: still one active contact
            (1, "2025-02-03", 20.0),
            (1, "2025-04-01", 30.0),  # skips March
            (2, "2025-01-31 23:59", 40.0),
            (2, "2025-02-01", 10.0),
            (3, "2025-01-15", 60.0),
            # February cohort: 4, 5
            (4, "2025-02-10", 100.0),
            (5, "2025-02-11", 50.0),
            (5, "2025-03-11", 50.0),
        ]
    )


def test_monthly_retention_and_revenue(cohort_orders: pl.LazyFrame) -> None:
    table = cohort_table(cohort_orders, as_of=date(2025, 4, 30)).collect()
    cells = {(r["cohort"], r["period"]): r for r in table.iter_rows(named=True)}
    jan, feb = date(2025, 1, 1), date(2025, 2, 1)
    assert cells[(jan, 0)]["cohort_size"] == 3
    assert cells[(jan, 0)]["retention"] == 1.0
    assert cells[(jan, 1)]["active"] == 2
    assert cells[(jan, 1)]["retention"] == pytest.approx(2 / 3)
    assert cells[(jan, 2)]["active"] == 0  # nobody in March: a zero row, not a missing one
    assert cells[(jan, 3)]["active"] == 1
    assert cells[(jan, 0)]["revenue"] == pytest.approx(115.0)
    assert cells[(jan, 1)]["revenue_per_customer"] == pytest.approx(10.0)
    assert cells[(jan, 3)]["cumulative_revenue_per_customer"] == pytest.approx((115 + 30 + 0 + 30) / 3)
    assert cells[(feb, 1)]["retention"] == pytest.approx(0.5)
    assert max(p for c, p in cells if c == feb) == 2  # February cohort observed through April only


def test_weekly_cohorts_start_on_monday(cohort_orders: pl.LazyFrame) -> None:
    table = cohort_table(cohort_orders, period="week").collect()
    assert set(table["cohort"].dt.weekday().to_list()) == {1}
    first = table.filter(pl.col("cohort") == date(2024, 12, 30))  # 2025-01-05 is a Sunday
    assert first.filter(pl.col("period") == 0)["cohort_size"].item() == 1


def test_activity_without_value_and_as_of_cutoff(cohort_orders: pl.LazyFrame) -> None:
    table = cohort_table(cohort_orders.drop("amount"), value=None, as_of=date(2025, 2, 28)).collect()
    assert table["revenue"].sum() == 0.0
    assert table["period"].max() == 1
    assert table.filter(pl.col("period") == 0)["cohort_size"].sum() == 5


def test_matrix_and_heatmap(cohort_orders: pl.LazyFrame, tmp_path: Path) -> None:
    table = cohort_table(cohort_orders, as_of=date(2025, 4, 30)).collect()
    wide = cohort_matrix(table)
    assert wide.columns == ["cohort", "cohort_size", "0", "1", "2", "3"]
    assert wide.row(0) == (date(2025, 1, 1), 3, 1.0, pytest.approx(2 / 3), 0.0, pytest.approx(1 / 3))
    assert wide.row(1)[-1] is None  # the February cohort has no fourth month yet
    path = heatmap_png(table, tmp_path / "out" / "retention.png")
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert img.width > 200 and img.height > 150
        colours = img.convert("RGB").getcolors(maxcolors=100_000)
        assert colours is not None and len(colours) > 20  # an actual drawing, not a blank canvas


def test_agrees_with_a_pandas_implementation() -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(3)
    n = 5000
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    ts = pd.to_datetime(rng.uniform(start, start + 365 * 86400, n), unit="s", utc=True)
    pdf = pd.DataFrame({"contact_id": rng.integers(0, 800, n), "ts": ts, "amount": rng.gamma(2, 10, n)})
    ours = cohort_table(pl.from_pandas(pdf).lazy()).collect()

    pdf["month"] = pdf["ts"].dt.year * 12 + pdf["ts"].dt.month - 1
    pdf["cohort"] = pdf.groupby("contact_id")["month"].transform("min")
    pdf["period"] = pdf["month"] - pdf["cohort"]
    cells = pdf.groupby(["cohort", "period"]).agg(active=("contact_id", "nunique"), revenue=("amount", "sum"))
    size = cells.xs(0, level="period")["active"]
    cells["retention"] = cells["active"] / size.reindex(cells.index.get_level_values(0)).to_numpy()
    theirs = cells.reset_index().sort_values(["cohort", "period"])
    assert ours.height == len(theirs)
    np.testing.assert_allclose(ours["retention"].to_numpy(), theirs["retention"].to_numpy())
    np.testing.assert_allclose(ours["revenue"].to_numpy(), theirs["revenue"].to_numpy())
