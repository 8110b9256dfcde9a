"""Customer lifetime value: historical figures and a BG/NBD (or MBG/NBD) + Gamma-Gamma prediction.

``compute_ltv`` builds the RFM summary from the order log, fits the purchase model (BG/NBD,
MBG/NBD, or with ``purchase_model="auto"`` the one with the smaller calibration/holdout error,
see :mod:`.ltv_holdout`) over the compressed summary and Gamma-Gamma over the repeat
customers' spend, and adds per contact: expected purchases over the horizon, P(alive), expected spend per
purchase and the discounted CLV over the horizon. Discounting is done in steps (30 days by
default): the purchases expected in each step are valued at the expected spend and discounted
at the annual rate to the end of the step, as lifetimes' ``customer_lifetime_value`` does with
monthly steps.

Predictions are computed once per distinct ``(frequency, recency, T)`` triple (and, for spend,
per distinct ``(frequency, monetary_value)``) and joined back, so a million contacts cost what
their few hundred thousand distinct histories cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import numpy as np
import polars as pl

from aicmo.models.lake import RFM_SUMMARY
from aicmo.tasks.analytics.bgnbd import (
    BgNbdFit,
    FitError,
    PurchaseModel,
    expected_purchases,
    fit_bgnbd,
    probability_alive,
)
from aicmo.tasks.analytics.gamma_gamma import GammaGammaFit, expected_spend, fit_gamma_gamma
from aicmo.tasks.analytics.ltv_holdout import HoldoutCheck, choose_purchase_model
from aicmo.tasks.analytics.rfm import rfm_summary, spend_summary, unique_histories

PurchaseModelChoice = Literal["bgnbd", "mbgnbd", "auto"]

MIN_CUSTOMERS_TO_FIT = 50
RFM_COLUMNS = list(RFM_SUMMARY.names())
MIN_REPEAT_CUSTOMERS_TO_FIT = 20


@dataclass(frozen=True)
class LtvResult:
    """Per-contact LTV frame plus the fitted models (``None`` where there was too little data)."""

    frame: pl.DataFrame
    bgnbd: BgNbdFit | None  # the purchase model's fit (``.model`` says BG/NBD or MBG/NBD)
    gamma_gamma: GammaGammaFit | None
    notes: list[str] = field(default_factory=list)
    holdout: HoldoutCheck | None = None

    def summary(self) -> dict[str, Any]:
        """Plain values for the flow's return value and artifacts."""
        f = self.frame
        return {
            "customers": f.height,
            "revenue": float(f["revenue"].sum()) if f.height else 0.0,
            "purchase_model": self.bgnbd.model if self.bgnbd else None,
            "bgnbd": self.bgnbd.as_dict() if self.bgnbd else None,
            "gamma_gamma": self.gamma_gamma.as_dict() if self.gamma_gamma else None,
            "holdout_check": self.holdout.as_dict() if self.holdout else None,
            "predicted_ltv_total": float(f["predicted_ltv"].fill_null(0.0).sum()) if f.height else 0.0,
            "notes": list(self.notes),
        }


def fit_models(
    summary: pl.DataFrame, *, purchase_model: PurchaseModel = "bgnbd"
) -> tuple[BgNbdFit, GammaGammaFit]:
    """Fit the purchase model over the unique ``(frequency, recency, T)`` histories and Gamma-Gamma over spend.

    Gamma-Gamma's input is ``(spend_frequency, spend_value)`` when ``summary`` has them (see
    :func:`.rfm.spend_summary`), else ``(frequency, monetary_value)``; customers with no repeat
    spend (none, or only zero-value repeat purchases) carry no spend information and are left out.
    """
    triples = unique_histories(summary.lazy()).collect()
    bg = fit_bgnbd(
        triples["frequency"].to_numpy(),
        triples["recency"].to_numpy(),
        triples["T"].to_numpy(),
        triples["weight"].to_numpy(),
        model=purchase_model,
    )
    x_col, m_col = _spend_columns(summary)
    repeat = summary.filter((pl.col(x_col) > 0) & (pl.col(m_col) > 0))
    gg = fit_gamma_gamma(repeat[x_col].to_numpy(), repeat[m_col].to_numpy())
    return bg, gg


def _spend_columns(summary: pl.DataFrame) -> tuple[str, str]:
    if "spend_frequency" in summary.columns:
        return "spend_frequency", "spend_value"
    return "frequency", "monetary_value"


def discounted_purchases(
    fit: BgNbdFit,
    frequency: np.ndarray,
    recency: np.ndarray,
    age: np.ndarray,
    horizon_days: int,
    discount_rate_annual: float,
    step_days: int = 30,
) -> np.ndarray:
    """Expected purchases over the horizon, each step's share discounted to the step's end."""
    steps = math.ceil(horizon_days / step_days)
    total = np.zeros(frequency.shape[0], dtype=np.float64)
    previous = np.zeros_like(total)
    for k in range(1, steps + 1):
        t_end = float(min(k * step_days, horizon_days))
        cumulative = expected_purchases(fit, t_end, frequency, recency, age)
        total += (cumulative - previous) / (1.0 + discount_rate_annual) ** (t_end / 365.0)
        previous = cumulative
    return total


def predict(
    summary: pl.DataFrame,
    bg: BgNbdFit,
    gg: GammaGammaFit,
    horizon_days: int,
    discount_rate_annual: float,
) -> pl.DataFrame:
    """Add ``expected_purchases``, ``p_alive``, ``expected_spend`` and ``predicted_ltv`` to ``summary``."""
    triples = summary.select("frequency", "recency", "T").unique()
    x = triples["frequency"].to_numpy().astype(np.float64)
    tx = triples["recency"].to_numpy().astype(np.float64)
    t = triples["T"].to_numpy().astype(np.float64)
    triples = triples.with_columns(
        pl.Series("expected_purchases", expected_purchases(bg, float(horizon_days), x, tx, t)),
        pl.Series("p_alive", probability_alive(bg, x, tx, t)),
        pl.Series(
            "discounted_purchases", discounted_purchases(bg, x, tx, t, horizon_days, discount_rate_annual)
        ),
    )
    x_col, m_col = _spend_columns(summary)
    spend = expected_spend(gg, summary[x_col].to_numpy(), summary[m_col].to_numpy())
    return (
        summary.with_columns(pl.Series("expected_spend", spend))
        .join(triples, on=["frequency", "recency", "T"], how="left")
        .with_columns((pl.col("discounted_purchases") * pl.col("expected_spend")).alias("predicted_ltv"))
        .drop("discounted_purchases")
    )


def compute_ltv(
    orders: pl.LazyFrame,
    as_of: date,
    *,
    horizon_days: int = 365,
    discount_rate_annual: float = 0.10,
    purchase_model: PurchaseModelChoice = "bgnbd",
    holdout_days: int = 90,
    spend_excludes_zero_orders: bool = False,
) -> LtvResult:
    """Historical and predicted LTV of every purchasing contact as of ``as_of``.

    ``purchase_model="auto"`` runs the calibration/holdout check over the last ``holdout_days``
    and fits the model that predicted the holdout better (BG/NBD unless MBG/NBD does better).
    ``spend_excludes_zero_orders`` leaves zero-value repeat purchases out of Gamma-Gamma's spend
    (they count as purchases either way). With too few customers (or repeat customers) to fit the
    models, the predictive columns are null and ``notes`` says why; the historical figures are
    always there.
    """
    summary = rfm_summary(orders, as_of).collect()
    notes: list[str] = []
    null_cols = [
        pl.lit(None, pl.Float64).alias(c)
        for c in ("expected_spend", "expected_purchases", "p_alive", "predicted_ltv")
    ]
    repeaters = summary.filter(pl.col("frequency") > 0).height
    if summary.height < MIN_CUSTOMERS_TO_FIT or repeaters < MIN_REPEAT_CUSTOMERS_TO_FIT:
        notes.append(
            f"predictive LTV skipped: {summary.height} customers, {repeaters} repeat customers "
            f"(need {MIN_CUSTOMERS_TO_FIT} and {MIN_REPEAT_CUSTOMERS_TO_FIT})"
        )
        return LtvResult(summary.with_columns(null_cols), None, None, notes)
    check = None
    model: PurchaseModel = "bgnbd" if purchase_model == "auto" else purchase_model
    if purchase_model == "auto":
        model, check, note = choose_purchase_model(orders, as_of, holdout_days)
        notes.extend([note] if note else [])
    if spend_excludes_zero_orders:
        spend = spend_summary(orders, as_of, exclude_zero=True).collect()
        summary = summary.join(spend, on="contact_id", how="left")
    try:
        bg, gg = fit_models(summary, purchase_model=model)
    except (FitError, ValueError) as exc:
        notes.append(f"predictive LTV skipped: {exc}")
        return LtvResult(summary.select(RFM_COLUMNS).with_columns(null_cols), None, None, notes, check)
    if gg.q <= 1.0:
        notes.append(f"Gamma-Gamma q={gg.q:.3f} <= 1: population mean spend undefined for one-time buyers")
    frame = predict(summary, bg, gg, horizon_days, discount_rate_annual).drop(
        "spend_frequency", "spend_value", strict=False
    )
    return LtvResult(frame, bg, gg, notes, check)
