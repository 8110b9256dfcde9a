"""LTV: the RFM summary, BG/NBD and Gamma-Gamma fits, predictions and CLV.

The fits are checked two ways: they recover the parameters the sample generator simulated from,
and (when the ``bench`` extra's lifetimes is installed) they agree with lifetimes on the same data.
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
from scipy.optimize import approx_fprime

from aicmo.tasks.analytics import bgnbd, gamma_gamma
from aicmo.tasks.analytics.ltv import compute_ltv, discounted_purchases
from aicmo.tasks.analytics.rfm import rfm_summary, unique_histories
from aicmo.tasks.sample import BgNbdParams, GammaGammaParams, simulate_bgnbd_orders

AS_OF = date(2025, 12, 31)
TRUE_BG = BgNbdParams(r=0.5, alpha=60.0, a=0.8, b=2.5)
TRUE_GG = GammaGammaParams(p=6.0, q=4.0, gamma=40.0)
HAS_LIFETIMES = importlib.util.find_spec("lifetimes") is not None


@pytest.fixture(scope="module")
def ltv_orders() -> pl.DataFrame:
    """40k simulated customers over two years, with known BG/NBD and Gamma-Gamma parameters."""
    return simulate_bgnbd_orders(40_000, TRUE_BG, TRUE_GG, date(2024, 1, 1), AS_OF, seed=7)


@pytest.fixture(scope="module")
def ltv_summary(ltv_orders: pl.DataFrame) -> pl.DataFrame:
    return rfm_summary(ltv_orders.lazy(), AS_OF).collect()


def _ts(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_rfm_summary_counts_purchase_days_in_lifetimes_conventions() -> None:
    orders = pl.DataFrame(
        {
            "contact_id": [1, 1, 1, 1, 2, 3, 3],
            "ts": [
                _ts("2025-01-01", 9),
                _ts("2025-01-01", 18),  # same day as the first: one purchase period
                _ts("2025-01-11"),
                _ts("2025-01-21"),
                _ts("2025-01-30"),
                _ts("2025-01-05"),
                _ts("2025-02-05"),  # after as_of: not counted
            ],
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0, -3.0, 50.0],  # contact 3's only earlier row is a refund
        }
    )
    out = rfm_summary(orders.lazy(), date(2025, 1, 31)).collect().sort("contact_id")
    assert out["contact_id"].to_list() == [1, 2]
    one = out.row(0, named=True)
    assert one["frequency"] == 2
    assert one["recency"] == 20
    assert one["T"] == 30
    assert one["monetary_value"] == pytest.approx(30.0)  # mean of the two repeat days, first day excluded
    assert one["orders"] == 4
    assert one["revenue"] == pytest.approx(75.0)
    assert one["aov"] == pytest.approx(18.75)
    two = out.row(1, named=True)
    assert (two["frequency"], two["recency"], two["T"], two["monetary_value"]) == (0, 0, 1, 0.0)


def test_compression_keeps_every_customer(ltv_summary: pl.DataFrame) -> None:
    triples = unique_histories(ltv_summary.lazy()).collect()
    assert triples["weight"].sum() == ltv_summary.height
    # Customers sharing a history collapse into one row (more so as the customer count grows).
    assert triples.height < 0.7 * ltv_summary.height
    assert triples.select(pl.struct("frequency", "recency", "T").is_unique().all()).item()


def test_bgnbd_gradient_matches_finite_differences(ltv_summary: pl.DataFrame) -> None:
    s = ltv_summary.head(3000)
    f, r, t = (s[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    ix = bgnbd._index(f, r / 100, t / 100, np.ones_like(f))
    theta = np.log([0.7, 0.4, 1.2, 3.0])
    _, grad = bgnbd._neg_ll_and_grad(theta, ix, len(f))
    numeric = approx_fprime(theta, lambda th: bgnbd._neg_ll_and_grad(th, ix, len(f))[0], 1e-7)
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-7)


def test_weighted_fit_equals_per_customer_fit(ltv_summary: pl.DataFrame) -> None:
    s = ltv_summary.head(5000)
    per_customer = bgnbd.fit_bgnbd(s["frequency"], s["recency"], s["T"])
    triples = unique_histories(s.lazy()).collect()
    weighted = bgnbd.fit_bgnbd(triples["frequency"], triples["recency"], triples["T"], triples["weight"])
    for name, value in per_customer.params().items():
        assert weighted.params()[name] == pytest.approx(value, rel=1e-5)
    assert weighted.log_likelihood == pytest.approx(per_customer.log_likelihood, rel=1e-9)


def test_fit_recovers_simulated_parameters(ltv_orders: pl.DataFrame) -> None:
    result = compute_ltv(ltv_orders.lazy(), AS_OF)
    assert result.bgnbd is not None and result.gamma_gamma is not None
    bg, gg = result.bgnbd, result.gamma_gamma
    # Each parameter within 20% (a and b, p and v are strongly correlated pairs) ...
    assert bg.r == pytest.approx(TRUE_BG.r, rel=0.2)
    assert bg.alpha == pytest.approx(TRUE_BG.alpha, rel=0.2)
    assert bg.a == pytest.approx(TRUE_BG.a, rel=0.2)
    assert bg.b == pytest.approx(TRUE_BG.b, rel=0.2)
    assert gg.p == pytest.approx(TRUE_GG.p, rel=0.2)
    assert gg.q == pytest.approx(TRUE_GG.q, rel=0.2)
    assert gg.v == pytest.approx(TRUE_GG.gamma, rel=0.2)
    # ... and the well-identified quantities much closer: mean purchase rate, mean dropout, mean spend.
    assert bg.r / bg.alpha == pytest.approx(TRUE_BG.r / TRUE_BG.alpha, rel=0.05)
    assert bg.a / (bg.a + bg.b) == pytest.approx(TRUE_BG.a / (TRUE_BG.a + TRUE_BG.b), rel=0.05)
    assert gg.population_mean == pytest.approx(TRUE_GG.mean_order_value, rel=0.05)


def test_predictions_track_what_customers_then_do() -> None:
    """Fit on the first 18 months, predict the next 6, compare with the simulated holdout."""
    orders = simulate_bgnbd_orders(20_000, TRUE_BG, TRUE_GG, date(2024, 1, 1), date(2025, 6, 30), seed=11)
    calibration_end = date(2024, 12, 31)
    result = compute_ltv(orders.lazy(), calibration_end, horizon_days=181, discount_rate_annual=0.0)
    frame = result.frame
    holdout = (
        orders.filter(pl.col("ts").dt.date() > calibration_end)
        .group_by("contact_id")
        .agg(pl.col("ts").dt.date().n_unique().alias("actual"))
    )
    joined = frame.join(holdout, on="contact_id", how="left").with_columns(pl.col("actual").fill_null(0))
    predicted_total = joined["expected_purchases"].sum()
    actual_total = joined["actual"].sum()
    assert predicted_total == pytest.approx(actual_total, rel=0.1)
    # Higher predicted decile buys more in the holdout.
    by_decile = (
        joined.with_columns(
            (pl.col("expected_purchases").rank("ordinal") * 10 // (joined.height + 1)).alias("d")
        )
        .group_by("d")
        .agg(pl.col("actual").mean())
        .sort("d")
    )
    assert by_decile["actual"][-1] > 5 * by_decile["actual"][0]
    # P(alive) is lower for customers who bought often long ago than for recent buyers.
    assert frame["p_alive"].is_between(0.0, 1.0).all()
    repeat = frame.filter(pl.col("frequency") >= 3).with_columns(
        (pl.col("T") - pl.col("recency")).alias("idle")
    )
    long_ago = repeat.filter(pl.col("idle") > 180)["p_alive"]
    recent = repeat.filter(pl.col("idle") < 30)["p_alive"]
    assert long_ago.len() > 50 and recent.len() > 50
    assert long_ago.mean() < recent.mean() - 0.3  # type: ignore[operator]


def test_clv_discounting_and_horizon() -> None:
    fit = bgnbd.BgNbdFit(
        r=0.5, alpha=60.0, a=0.8, b=2.5, log_likelihood=0.0, n_customers=1, n_unique=1, iterations=0
    )
    x, tx, t = np.array([3.0, 0.0]), np.array([200.0, 0.0]), np.array([300.0, 300.0])
    undiscounted = discounted_purchases(fit, x, tx, t, 365, 0.0)
    np.testing.assert_allclose(undiscounted, bgnbd.expected_purchases(fit, 365.0, x, tx, t), rtol=1e-10)
    discounted = discounted_purchases(fit, x, tx, t, 365, 0.10)
    assert np.all(discounted < undiscounted)
    assert np.all(discounted > undiscounted / 1.10)
    assert np.all(discounted_purchases(fit, x, tx, t, 730, 0.10) > discounted)


def test_too_few_customers_leaves_predictions_null() -> None:
    orders = pl.DataFrame(
        {
            "contact_id": [1, 1, 2],
            "ts": [_ts("2025-01-01"), _ts("2025-01-05"), _ts("2025-01-03")],
            "amount": [5.0, 6.0, 7.0],
        }
    )
    result = compute_ltv(orders.lazy(), date(2025, 1, 31))
    assert result.bgnbd is None
    assert result.frame["predicted_ltv"].null_count() == 2
    assert result.frame.sort("contact_id")["revenue"].to_list() == pytest.approx([11.0, 7.0])
    assert "predictive LTV skipped" in result.notes[0]


def test_gamma_gamma_rejects_non_positive_spend() -> None:
    with pytest.raises(ValueError, match="positive"):
        gamma_gamma.fit_gamma_gamma([1, 2], [10.0, 0.0])


@pytest.mark.skipif(not HAS_LIFETIMES, reason="lifetimes is not installed (pip install -e '.[dev]')")
@pytest.mark.filterwarnings("ignore:The 'mode.chained_assignment' option is deprecated")
def test_agrees_with_lifetimes(ltv_orders: pl.DataFrame, ltv_summary: pl.DataFrame) -> None:
    import pandas as pd
    from lifetimes import BetaGeoFitter, GammaGammaFitter
    from lifetimes.utils import summary_data_from_transaction_data

    sample = ltv_orders.filter(pl.col("contact_id") <= 8000)
    pdf = sample.select("contact_id", pl.col("ts").dt.replace_time_zone(None), "amount").to_pandas()
    theirs = summary_data_from_transaction_data(
        pdf, "contact_id", "ts", "amount", observation_period_end=pd.Timestamp(AS_OF), freq="D"
    ).sort_index()
    ours = rfm_summary(sample.lazy(), AS_OF).collect().sort("contact_id")
    for col in ("frequency", "recency", "T", "monetary_value"):
        np.testing.assert_allclose(ours[col].to_numpy(), theirs[col].to_numpy(), rtol=1e-9, err_msg=col)

    ref_bg = BetaGeoFitter().fit(theirs["frequency"], theirs["recency"], theirs["T"])
    fit = bgnbd.fit_bgnbd(ours["frequency"], ours["recency"], ours["T"])
    for name, value in ref_bg.params_.items():
        assert fit.params()[name] == pytest.approx(value, rel=1e-3), name
    repeat = theirs[theirs["frequency"] > 0]
    ref_gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    gg = gamma_gamma.fit_gamma_gamma(ours["frequency"], ours["monetary_value"])
    for name, value in ref_gg.params_.items():
        assert gg.params()[name] == pytest.approx(value, rel=1e-3), name

    f, r, t = (ours[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        bgnbd.probability_alive(fit, f, r, t),
        ref_bg.conditional_probability_alive(theirs["frequency"], theirs["recency"], theirs["T"]),
        rtol=1e-3,
    )
    np.testing.assert_allclose(
        bgnbd.expected_purchases(fit, 90.0, f, r, t),
        ref_bg.conditional_expected_number_of_purchases_up_to_time(
            90, theirs["frequency"], theirs["recency"], theirs["T"]
        ).to_numpy(),
        rtol=1e-3,
    )
