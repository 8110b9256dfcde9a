"""The BG/NBD + Gamma-Gamma order simulator matches the models' closed forms."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from aicmo.models.lake import ORDERS
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, expected_repeat_purchases, simulate_bgnbd_orders

START, END = date(2026, 1, 1), date(2026, 12, 31)


@pytest.mark.parametrize(
    "params",
    [BgNbdParams(r=0.25, alpha=12.0, a=0.8, b=2.5), BgNbdParams(r=0.6, alpha=8.0, a=1.6, b=3.0)],
    ids=["defaults", "frequent-buyers"],
)
def test_mean_repeat_purchases_match_the_closed_form(params: BgNbdParams) -> None:
    n = 50_000
    orders = simulate_bgnbd_orders(n, params, GammaGammaParams(), START, END, seed=3, all_start_at_start=True)
    assert orders.schema == ORDERS
    assert orders["contact_id"].n_unique() == n  # everyone has the first purchase
    repeats = (orders.height - n) / n
    expected = float(expected_repeat_purchases(365.0, params))
    assert repeats == pytest.approx(expected, rel=0.04)


def test_staggered_first_purchases_match_the_closed_form_per_customer() -> None:
    params = BgNbdParams(r=0.4, alpha=10.0, a=1.2, b=2.0)
    orders = simulate_bgnbd_orders(
        40_000, params, GammaGammaParams(), START, END, seed=5, first_contact_id=101
    )
    per = orders.group_by("contact_id").agg(pl.len().alias("n"), pl.col("ts").min().alias("first"))
    assert per["contact_id"].min() == 101 and per["contact_id"].max() == 40_100
    end_ts = pl.datetime(END.year, END.month, END.day, time_zone="UTC") + pl.duration(days=1)
    t_days = per.select(((end_ts - pl.col("first")).dt.total_microseconds() / 86_400e6).alias("t"))[
        "t"
    ].to_numpy()
    expected = float(np.mean(expected_repeat_purchases(t_days, params)))
    realized = float((per["n"] - 1).mean())  # type: ignore[operator]
    assert realized == pytest.approx(expected, rel=0.05)
    assert orders["ts"].min() >= pl.Series([START]).cast(pl.Datetime("us", "UTC"))[0]  # type: ignore[operator]
    last = orders["ts"].max()
    assert last is not None and last.date() <= END  # type: ignore[union-attr]


def test_order_values_follow_gamma_gamma() -> None:
    gg = GammaGammaParams(p=5.0, q=4.0, gamma=30.0)
    orders = simulate_bgnbd_orders(60_000, BgNbdParams(), gg, START, START + timedelta(days=60), seed=9)
    assert float(orders["amount"].mean()) == pytest.approx(gg.mean_order_value, rel=0.03)  # type: ignore[arg-type]
    assert orders["amount"].min() > 0  # type: ignore[operator]
    assert orders["order_id"].n_unique() == orders.height


def test_same_seed_same_log_and_another_seed_another() -> None:
    a = simulate_bgnbd_orders(2000, BgNbdParams(), GammaGammaParams(), START, END, seed=1)
    b = simulate_bgnbd_orders(2000, BgNbdParams(), GammaGammaParams(), START, END, seed=1)
    c = simulate_bgnbd_orders(2000, BgNbdParams(), GammaGammaParams(), START, END, seed=2)
    assert a.equals(b)
    assert not a.equals(c)
