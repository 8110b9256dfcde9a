"""Calibration/holdout check of the purchase models, and the choice between BG/NBD and MBG/NBD.

The order log is cut at ``calibration_end``: each model is fitted on the RFM summary of the
calibration period and predicts every calibration customer's purchases over the holdout period
(``calibration_end`` exclusive to ``holdout_end`` inclusive), which are then counted as the
customers actually made them (purchase days, as in the summary). As lifetimes'
``plot_calibration_purchases_vs_holdout_purchases``, customers are grouped by their
calibration frequency (0, 1, ..., with the tail from ``max_bucket`` on in one group) and the
mean actual and predicted holdout purchases of each group compared.

The error of a model is the customer-weighted mean absolute gap between predicted and actual
group means (how far the plot's lines are apart); the chosen model is BG/NBD unless MBG/NBD's
error is smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from aicmo.tasks.analytics.bgnbd import (
    PURCHASE_MODELS,
    BgNbdFit,
    FitError,
    PurchaseModel,
    expected_purchases,
    fit_bgnbd,
)
from aicmo.tasks.analytics.png import pyplot, save_png
from aicmo.tasks.analytics.rfm import purchases, rfm_summary, unique_histories

MIN_CALIBRATION_CUSTOMERS = 50


@dataclass(frozen=True)
class HoldoutCheck:
    """Actual vs predicted holdout purchases per calibration-frequency group, per model."""

    calibration_end: date
    holdout_end: date
    table: pl.DataFrame  # frequency_group, customers, actual, predicted_<model>...
    errors: dict[str, float]
    fits: dict[str, BgNbdFit]
    chosen: PurchaseModel
    max_bucket: int = 6

    def as_dict(self) -> dict[str, Any]:
        """Plain values for summaries and artifacts."""
        return {
            "calibration_end": self.calibration_end.isoformat(),
            "holdout_end": self.holdout_end.isoformat(),
            "errors": {k: round(v, 6) for k, v in self.errors.items()},
            "chosen": self.chosen,
            "customers": int(self.table["customers"].sum()) if self.table.height else 0,
            "table": [
                {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
                for row in self.table.iter_rows(named=True)
            ],
        }


def calibration_and_holdout(orders: pl.LazyFrame, calibration_end: date, holdout_end: date) -> pl.DataFrame:
    """The calibration RFM summary with each customer's ``holdout_purchases`` (purchase days)."""
    summary = rfm_summary(orders, calibration_end).collect()
    holdout = (
        purchases(orders, holdout_end)
        .filter(pl.col("day") > calibration_end)
        .group_by("contact_id")
        .agg(pl.col("day").n_unique().cast(pl.Int64).alias("holdout_purchases"))
        .collect()
    )
    return summary.join(holdout, on="contact_id", how="left").with_columns(
        pl.col("holdout_purchases").fill_null(0)
    )


def holdout_check(
    orders: pl.LazyFrame,
    calibration_end: date,
    holdout_end: date,
    *,
    models: tuple[PurchaseModel, ...] = PURCHASE_MODELS,
    max_bucket: int = 6,
) -> HoldoutCheck:
    """Fit each model on the calibration period and compare its holdout predictions with what happened.

    Raises ``ValueError`` when the calibration period has fewer than 50 customers, and
    ``FitError`` when a model cannot be fitted.
    """
    if holdout_end <= calibration_end:
        raise ValueError(f"holdout end {holdout_end} must be after calibration end {calibration_end}")
    frame = calibration_and_holdout(orders, calibration_end, holdout_end)
    if frame.height < MIN_CALIBRATION_CUSTOMERS:
        raise ValueError(
            f"calibration/holdout check: {frame.height} customers before {calibration_end} "
            f"(need {MIN_CALIBRATION_CUSTOMERS})"
        )
    duration = float((holdout_end - calibration_end).days)
    triples = unique_histories(frame.lazy()).collect()
    x, tx, t = (frame[c].to_numpy().astype(np.float64) for c in ("frequency", "recency", "T"))
    fits: dict[str, BgNbdFit] = {}
    predicted: dict[str, np.ndarray] = {}
    for model in models:
        fit = fit_bgnbd(
            triples["frequency"], triples["recency"], triples["T"], triples["weight"], model=model
        )
        fits[model] = fit
        predicted[model] = expected_purchases(fit, duration, x, tx, t)
    grouped = (
        frame.select(
            pl.col("frequency").clip(upper_bound=max_bucket).alias("frequency_group"),
            pl.col("holdout_purchases").cast(pl.Float64).alias("actual"),
            *[pl.Series(f"predicted_{m}", p) for m, p in predicted.items()],
        )
        .group_by("frequency_group")
        .agg(
            pl.len().cast(pl.Int64).alias("customers"),
            pl.col("actual").mean(),
            *[pl.col(f"predicted_{m}").mean() for m in models],
        )
        .sort("frequency_group")
    )
    weights = grouped["customers"].to_numpy() / grouped["customers"].sum()
    actual = grouped["actual"].to_numpy()
    errors: dict[str, float] = {
        m: float(np.sum(weights * np.abs(grouped[f"predicted_{m}"].to_numpy() - actual))) for m in models
    }
    chosen: PurchaseModel = "bgnbd" if "bgnbd" in errors else models[0]
    for m in models:
        if errors[m] < errors[chosen]:
            chosen = m
    return HoldoutCheck(calibration_end, holdout_end, grouped, errors, fits, chosen, max_bucket)


def choose_purchase_model(
    orders: pl.LazyFrame, as_of: date, holdout_days: int
) -> tuple[PurchaseModel, HoldoutCheck | None, str | None]:
    """The model with the smaller holdout error over the last ``holdout_days`` before ``as_of``.

    Returns ``(model, check, note)``: BG/NBD with a note saying why when the check cannot run.
    """
    try:
        check = holdout_check(orders, as_of - timedelta(days=holdout_days), as_of)
    except (ValueError, FitError) as exc:
        return "bgnbd", None, f"purchase model: BG/NBD (holdout check skipped: {exc})"
    return check.chosen, check, None


def plot_holdout(check: HoldoutCheck, path: Path) -> Path:
    """PNG of mean actual vs predicted holdout purchases per calibration-frequency group."""
    plt = pyplot()

    path.parent.mkdir(parents=True, exist_ok=True)
    table = check.table
    labels = [f"{g}+" if g == check.max_bucket else str(g) for g in table["frequency_group"].to_list()]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.plot(labels, table["actual"].to_list(), marker="o", lw=2, color="black", label="actual")
        for model, error in check.errors.items():
            ax.plot(
                labels,
                table[f"predicted_{model}"].to_list(),
                marker="s",
                lw=1.4,
                label=f"{model} (error {error:.3f})" + (", chosen" if model == check.chosen else ""),
            )
        ax.set_xlabel(f"purchases in calibration period (to {check.calibration_end})")
        ax.set_ylabel("mean purchases in holdout")
        ax.set_title(f"Actual vs predicted purchases, holdout to {check.holdout_end}")
        ax.legend(fontsize=8)
        save_png(fig, path)
    finally:
        plt.close(fig)
    return path
