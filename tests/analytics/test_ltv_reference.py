"""LTV against the published references: the CDNOW figures of Fader, Hardie and Lee (2005) and lifetimes.

lifetimes (dev extra) ships the CDNOW sample twice: the per-customer summary in weeks that the
paper fits (2,357 customers, calibration to 1997-09-30) and the raw purchase log it comes from.
The published BG/NBD estimates on it are r 0.243, alpha 4.414, a 0.793, b 2.426 with a
log-likelihood of -9582.4 (FHL 2005, "Counting your customers the easy way", section 5).
"""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from aicmo.tasks.analytics import bgnbd, gamma_gamma
from aicmo.tasks.analytics.ltv import compute_ltv, fit_models
from aicmo.tasks.analytics.ltv_holdout import calibration_and_holdout, holdout_check, plot_holdout
from aicmo.tasks.analytics.rfm import rfm_summary, spend_summary

lifetimes = pytest.importorskip("lifetimes")
from lifetimes import BetaGeoFitter, GammaGammaFitter, ModifiedBetaGeoFitter  # noqa: E402
from lifetimes.datasets import (  # noqa: E402
    load_cdnow_summary,
    load_cdnow_summary_data_with_monetary_value,
    load_dataset,
)

PUBLISHED = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PUBLISHED_LL = -9582.4
CALIBRATION_END = date(1997, 9, 30)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")


@pytest.fixture(scope="module")
def cdnow_weeks() -> pd.DataFrame:
    return load_cdnow_summary(index_col=[0])


@pytest.fixture(scope="module")
def cdnow_orders() -> pl.DataFrame:
    """The raw CDNOW sample log (customer, day, CDs, dollars) as the lake's ``orders`` shape."""
    raw = load_dataset(
        "CDNOW_sample.txt",
        header=None,
        sep=r"\s+",
        names=["customer_id", "customer_index", "date", "quantity", "amount"],
        converters={"date": str},
    )
    return pl.from_pandas(raw).select(
        pl.col("customer_id").cast(pl.Int64).alias("contact_id"),
        pl.col("date").str.strptime(pl.Datetime("us"), "%Y%m%d").dt.replace_time_zone("UTC").alias("ts"),
        pl.col("amount").cast(pl.Float64),
    )


def _reference_fit(fitter: type, data: pd.DataFrame) -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fitter().fit(data["frequency"], data["recency"], data["T"])


def test_bgnbd_reproduces_the_published_cdnow_fit(cdnow_weeks: pd.DataFrame) -> None:
    fit = bgnbd.fit_bgnbd(cdnow_weeks["frequency"], cdnow_weeks["recency"], cdnow_weeks["T"])
    for name, value in PUBLISHED.items():
        assert fit.params()[name] == pytest.approx(value, abs=5e-4), name
    # the log-likelihood in the data's own unit (weeks), not the optimizer's rescaled one
    assert fit.log_likelihood == pytest.approx(PUBLISHED_LL, abs=0.05)
    assert fit.n_customers == 2357


def test_log_likelihood_does_not_depend_on_the_rescaling(cdnow_weeks: pd.DataFrame) -> None:
    """The reported value is the likelihood of the data as given: recomputing it agrees."""
    f, r, t = (cdnow_weeks[c].to_numpy() for c in ("frequency", "recency", "T"))
    for model in bgnbd.PURCHASE_MODELS:
        fit = bgnbd.fit_bgnbd(f, r, t, model=model)
        direct = bgnbd.log_likelihood(fit.params(), f, r, t, model=model)
        assert fit.log_likelihood == pytest.approx(direct, abs=1e-6), model


def test_standard_errors_match_lifetimes_on_cdnow(cdnow_weeks: pd.DataFrame) -> None:
    ref = _reference_fit(BetaGeoFitter, cdnow_weeks)
    fit = bgnbd.fit_bgnbd(cdnow_weeks["frequency"], cdnow_weeks["recency"], cdnow_weeks["T"])
    ref_se = ref.summary["se(coef)"]  # type: ignore[attr-defined]
    for name in PUBLISHED:
        assert fit.std_errors[name] == pytest.approx(ref_se[name], rel=1e-3), name
    low, high = fit.confidence_intervals()["r"]
    assert low < PUBLISHED["r"] < high
    assert (low, high) == pytest.approx(
        (ref.summary.loc["r", "lower 95% bound"], ref.summary.loc["r", "upper 95% bound"]),  # type: ignore[attr-defined]
        rel=1e-3,
    )


def test_gamma_gamma_standard_errors_match_lifetimes_on_cdnow() -> None:
    data = load_cdnow_summary_data_with_monetary_value()
    repeat = data[data["frequency"] > 0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    fit = gamma_gamma.fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
    for name, value in ref.params_.items():
        assert fit.params()[name] == pytest.approx(value, rel=1e-3), name
        assert fit.std_errors[name] == pytest.approx(ref.summary.loc[name, "se(coef)"], rel=5e-3), name


def test_mbgnbd_agrees_with_lifetimes_modified_fitter(cdnow_weeks: pd.DataFrame) -> None:
    ref = _reference_fit(ModifiedBetaGeoFitter, cdnow_weeks)
    f, r, t = (cdnow_weeks[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    fit = bgnbd.fit_bgnbd(f, r, t, model="mbgnbd")
    for name, value in ref.params_.items():  # type: ignore[attr-defined]
        assert fit.params()[name] == pytest.approx(value, rel=1e-4), name
        assert fit.std_errors[name] == pytest.approx(ref.summary.loc[name, "se(coef)"], rel=1e-3)  # type: ignore[attr-defined]
    # one more parameter's worth of freedom: at least as likely as BG/NBD on the same data
    assert fit.log_likelihood >= bgnbd.fit_bgnbd(f, r, t).log_likelihood - 1e-6
    np.testing.assert_allclose(
        bgnbd.expected_purchases(fit, 39.0, f, r, t),
        ref.conditional_expected_number_of_purchases_up_to_time(  # type: ignore[attr-defined]
            39, cdnow_weeks["frequency"], cdnow_weeks["recency"], cdnow_weeks["T"]
        ),
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        bgnbd.probability_alive(fit, f, r, t),
        ref.conditional_probability_alive(cdnow_weeks["frequency"], cdnow_weeks["recency"], cdnow_weeks["T"]),  # type: ignore[attr-defined]
        rtol=1e-4,
    )
    assert float(bgnbd.population_expected_purchases(fit, 39.0)) == pytest.approx(
        ref.expected_number_of_purchases_up_to_time(39),
        rel=1e-4,  # type: ignore[attr-defined]
    )


def test_raw_cdnow_log_counts_zero_value_purchases(cdnow_orders: pl.DataFrame) -> None:
    """From the raw log, zero-dollar orders are purchases: 2,357 customers and the published fit."""
    assert cdnow_orders.filter(pl.col("amount") == 0).height > 0
    summary = rfm_summary(cdnow_orders.lazy(), CALIBRATION_END).collect()
    assert summary.height == 2357
    bg, _ = fit_models(summary)
    # days here, weeks in the paper: alpha scales by 7, the shape parameters do not move
    assert bg.r == pytest.approx(PUBLISHED["r"], abs=5e-4)
    assert bg.alpha / 7.0 == pytest.approx(PUBLISHED["alpha"], abs=2e-3)
    assert bg.a == pytest.approx(PUBLISHED["a"], abs=5e-4)
    assert bg.b == pytest.approx(PUBLISHED["b"], abs=5e-4)


def test_cdnow_zero_dollar_buyers_are_customers(cdnow_orders: pl.DataFrame) -> None:
    zero = cdnow_orders.filter(pl.col("amount") == 0)["contact_id"]
    summary = rfm_summary(cdnow_orders.lazy(), CALIBRATION_END).collect()
    found = summary.filter(pl.col("contact_id").is_in(zero.implode()))
    assert found.height == zero.n_unique() == 8
    assert (found["frequency"] == 0).all() and (found["revenue"] == 0).all()


def _ts(day: int) -> datetime:
    return datetime(2025, 1, day, 12, tzinfo=UTC)


def test_zero_value_orders_can_be_left_out_of_spend_only() -> None:
    orders = pl.DataFrame(
        {
            "contact_id": [1, 1, 1, 2, 2],
            "ts": [_ts(1), _ts(5), _ts(10), _ts(2), _ts(3)],
            "amount": [20.0, 0.0, 30.0, 5.0, 0.0],
        }
    )
    as_of = date(2025, 1, 31)
    summary = rfm_summary(orders.lazy(), as_of).collect().sort("contact_id")
    assert summary.select("frequency", "recency", "monetary_value").rows() == [(2, 9, 15.0), (1, 1, 0.0)]
    kept = spend_summary(orders.lazy(), as_of).collect().sort("contact_id")
    assert kept.select("spend_frequency", "spend_value").rows() == [(2, 15.0), (1, 0.0)]
    excluded = spend_summary(orders.lazy(), as_of, exclude_zero=True).collect().sort("contact_id")
    assert excluded.select("spend_frequency", "spend_value").rows() == [(1, 30.0), (0, 0.0)]


def test_spend_option_changes_gamma_gamma_only(cdnow_orders: pl.DataFrame) -> None:
    # every third repeat order of the CDNOW log made free
    free = cdnow_orders.with_row_index("i").with_columns(
        pl.when((pl.col("i") % 3 == 0) & (pl.col("ts") > pl.col("ts").min().over("contact_id")))
        .then(0.0)
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    default = compute_ltv(free.lazy(), CALIBRATION_END)
    option = compute_ltv(free.lazy(), CALIBRATION_END, spend_excludes_zero_orders=True)
    assert default.bgnbd is not None and option.bgnbd is not None
    assert option.bgnbd.params() == pytest.approx(default.bgnbd.params(), rel=1e-9)  # purchases either way
    assert default.gamma_gamma is not None and option.gamma_gamma is not None
    assert option.gamma_gamma.population_mean > default.gamma_gamma.population_mean
    assert option.frame.columns == default.frame.columns


def test_calibration_holdout_split_matches_lifetimes(cdnow_orders: pl.DataFrame) -> None:
    """Calibration summary as lifetimes makes it; holdout purchase days counted with pandas.

    (lifetimes' own ``calibration_and_holdout_data`` fails on current pandas in its holdout step.)
    """
    from lifetimes.utils import summary_data_from_transaction_data

    holdout_end = date(1998, 6, 30)
    ours = calibration_and_holdout(cdnow_orders.lazy(), CALIBRATION_END, holdout_end).sort("contact_id")
    pdf = cdnow_orders.with_columns(pl.col("ts").dt.replace_time_zone(None)).to_pandas()
    calibration = pdf[pdf["ts"] <= pd.Timestamp(CALIBRATION_END)]
    theirs = summary_data_from_transaction_data(
        calibration, "contact_id", "ts", observation_period_end=pd.Timestamp(CALIBRATION_END), freq="D"
    ).sort_index()
    window = pdf[(pdf["ts"] > pd.Timestamp(CALIBRATION_END)) & (pdf["ts"] <= pd.Timestamp(holdout_end))]
    holdout = window.groupby("contact_id")["ts"].nunique().reindex(theirs.index, fill_value=0)
    assert ours.height == len(theirs) == 2357
    for col in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(ours[col].to_numpy(), theirs[col].to_numpy())
    np.testing.assert_array_equal(ours["holdout_purchases"].to_numpy(), holdout.to_numpy())


def test_holdout_check_table_plot_and_choice(cdnow_orders: pl.DataFrame, tmp_path: Path) -> None:
    holdout_end = date(1998, 6, 30)
    check = holdout_check(cdnow_orders.lazy(), CALIBRATION_END, holdout_end)
    table = check.table
    assert table["frequency_group"].to_list() == list(range(7))
    assert table["customers"].sum() == 2357
    # the predicted group means are the fitted model's conditional expectations, averaged
    frame = calibration_and_holdout(cdnow_orders.lazy(), CALIBRATION_END, holdout_end)
    one_time = frame.filter(pl.col("frequency") == 0)
    fit = check.fits["bgnbd"]
    expected = bgnbd.expected_purchases(
        fit, 273.0, *(one_time[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    ).mean()
    assert table.filter(pl.col("frequency_group") == 0)["predicted_bgnbd"].item() == pytest.approx(expected)
    # the more a customer bought in calibration, the more in the holdout, actually and as predicted
    assert table["actual"][6] > table["actual"][1] > table["actual"][0]
    assert table["predicted_bgnbd"][6] > table["predicted_bgnbd"][0]
    assert check.chosen == min(check.errors, key=lambda m: check.errors[m])
    png = plot_holdout(check, tmp_path / "holdout.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # auto mode runs the same check and fits the model it chose on everything
    auto = compute_ltv(cdnow_orders.lazy(), holdout_end, purchase_model="auto", holdout_days=273)
    assert auto.holdout is not None and auto.bgnbd is not None
    assert auto.bgnbd.model == auto.holdout.chosen == check.chosen
    assert auto.summary()["holdout_check"]["chosen"] == check.chosen


def test_auto_falls_back_to_bgnbd_when_the_holdout_has_too_few_customers() -> None:
    orders = pl.DataFrame(
        {
            "contact_id": [c for c in range(1, 81) for _ in range(2)],
            "ts": [
                datetime(2025, 6, 1 + c % 20, tzinfo=UTC)
                if k == 0
                else datetime(2025, 7, 1 + c % 25, tzinfo=UTC)
                for c in range(1, 81)
                for k in range(2)
            ],
            "amount": [10.0 + c % 7 for c in range(1, 81) for _ in range(2)],
        }
    )
    result = compute_ltv(orders.lazy(), date(2025, 7, 31), purchase_model="auto", holdout_days=90)
    assert result.bgnbd is not None and result.bgnbd.model == "bgnbd"
    assert any("holdout check skipped" in n for n in result.notes)


def test_summary_is_json_even_when_a_standard_error_cannot_be_estimated() -> None:
    import json

    fit = bgnbd.BgNbdFit(
        r=0.5,
        alpha=60.0,
        a=0.8,
        b=2.5,
        log_likelihood=-1.0,
        n_customers=1,
        n_unique=1,
        iterations=0,
        std_errors={"r": float("nan"), "alpha": 1.0, "a": 0.1, "b": 0.2},
    )
    text = json.dumps(fit.as_dict(), allow_nan=False)
    assert json.loads(text)["std_errors"] == {"r": None, "alpha": 1.0, "a": 0.1, "b": 0.2}
