"""Gamma-Gamma spend model, fitted by maximum likelihood.

Each purchase of a customer is ``Gamma(p, nu)`` with a customer-level ``nu ~ Gamma(q, v)``
(Fader, Hardie and Lee 2005, "RFM and CLV"; Colombo and Jiang 1999). The input is, for repeat
customers only, the number of repeat purchase periods ``x`` and their mean value ``m``
(lifetimes' ``monetary_value``). The model assumes spend is independent of frequency.

The log-likelihood is split so the optimizer's work per evaluation is one ``log(x m + v)`` per
customer: the gamma-function terms are computed once per distinct ``x`` and the terms linear in
``p`` are precomputed sums. The analytic gradient goes to L-BFGS-B over the log-parameters.
Standard errors come from the observed information matrix at the optimum (see
:mod:`.fit_uncertainty`), ``v``'s in the caller's currency unit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from aicmo.tasks.analytics.bgnbd import FitError, _dot, warm_start_rows
from aicmo.tasks.analytics.fit_uncertainty import (
    json_errors,
    observed_information,
    standard_errors,
    wald_intervals,
)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class GammaGammaFit:
    """Fitted Gamma-Gamma parameters and how the fit went."""

    p: float
    q: float
    v: float
    log_likelihood: float
    n_customers: int
    iterations: int
    std_errors: dict[str, float] = field(default_factory=dict)

    def params(self) -> dict[str, float]:
        """The three model parameters by name."""
        return {"p": self.p, "q": self.q, "v": self.v}

    def confidence_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Wald intervals ``estimate -/+ z * std_error`` per parameter."""
        return wald_intervals(self.params(), self.std_errors, level)

    def as_dict(self) -> dict[str, Any]:
        """Everything, as plain values (a standard error that could not be estimated is None)."""
        return {**asdict(self), "std_errors": json_errors(self.std_errors)}

    @property
    def population_mean(self) -> float:
        """Expected spend per purchase of a customer we know nothing about (needs q > 1)."""
        return self.p * self.v / (self.q - 1.0) if self.q > 1.0 else float("nan")


@dataclass(frozen=True)
class _Prepared:
    x_values: FloatArray
    x_weight: FloatArray
    x_idx: npt.NDArray[np.int64]
    xm: FloatArray
    weight: FloatArray
    wx: FloatArray
    const_p: float
    const_1: float
    total: float


def _prepare(frequency: FloatArray, monetary: FloatArray, weight: FloatArray) -> _Prepared:
    x_values, x_idx = np.unique(frequency, return_inverse=True)
    x_weight = np.bincount(x_idx, weights=weight, minlength=x_values.size).astype(np.float64)
    log_m = np.log(monetary)
    wx = weight * frequency
    # (p x - 1) log m + p x log x: linear in p, summed once.
    const_p = _dot(wx, log_m + np.log(frequency))
    const_1 = float(-(_dot(weight, log_m)))
    return _Prepared(
        x_values.astype(np.float64),
        x_weight,
        x_idx.astype(np.int64),
        frequency * monetary,
        weight,
        wx,
        const_p,
        const_1,
        float(weight.sum()),
    )


def _neg_ll_and_grad(log_params: FloatArray, pr: _Prepared) -> tuple[float, FloatArray]:
    p, q, v = np.exp(log_params)
    xv = pr.x_values
    px = p * xv
    ll_x = gammaln(px + q) - gammaln(px) - gammaln(q)
    dig_pxq = digamma(px + q)
    ll = (_dot(pr.x_weight, ll_x)) + pr.x_weight.sum() * q * np.log(v) + p * pr.const_p + pr.const_1
    g_p = (_dot(pr.x_weight, xv * (dig_pxq - digamma(px)))) + pr.const_p
    g_q = (_dot(pr.x_weight, dig_pxq - digamma(q))) + pr.x_weight.sum() * np.log(v)
    g_v = pr.x_weight.sum() * q / v

    log_xmv = np.log(pr.xm + v)
    inv_xmv = 1.0 / (pr.xm + v)
    sum_wx_log = _dot(pr.wx, log_xmv)
    sum_w_log = _dot(pr.weight, log_xmv)
    ll -= p * sum_wx_log + q * sum_w_log
    g_p -= sum_wx_log
    g_q -= sum_w_log
    g_v -= p * (_dot(pr.wx, inv_xmv)) + q * (_dot(pr.weight, inv_xmv))

    grad = np.array([g_p * p, g_q * q, g_v * v])
    return -ll / pr.total, -grad / pr.total


def fit_gamma_gamma(
    frequency: npt.ArrayLike,
    monetary_value: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 2000,
) -> GammaGammaFit:
    """Maximum-likelihood Gamma-Gamma parameters from repeat customers' ``(x, m)``.

    Rows with ``x == 0`` are ignored (they carry no repeat-spend information), as lifetimes
    requires them to be filtered out.
    """
    f = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    w = np.ones_like(f) if weights is None else np.asarray(weights, dtype=np.float64)
    if f.shape != m.shape or f.shape != w.shape:
        raise ValueError("Gamma-Gamma: frequency, monetary_value and weights must have the same length")
    keep = (f > 0) & (w > 0)
    f, m, w = f[keep], m[keep], w[keep]
    if f.size == 0:
        raise ValueError("Gamma-Gamma: no repeat customers to fit")
    if np.any(m <= 0) or not np.all(np.isfinite(m)):
        raise ValueError("Gamma-Gamma: monetary_value of repeat customers must be positive and finite")
    # Spend is rescaled to a mean of about 1 while optimizing; v carries the currency unit.
    scale = 1.0 / float(np.average(m, weights=w))
    x0 = np.zeros(3)
    sample = warm_start_rows(f.shape[0])
    if sample is not None:
        start = minimize(
            _neg_ll_and_grad,
            x0=x0,
            args=(_prepare(f[sample], m[sample] * scale, w[sample]),),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-15.0, 15.0)] * 3,
            options={"ftol": 1e-10, "gtol": 1e-7, "maxiter": max_iter},
        )
        if np.all(np.isfinite(start.x)):
            x0 = start.x
    pr = _prepare(f, m * scale, w)
    result = minimize(
        _neg_ll_and_grad,
        x0=x0,
        args=(pr,),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * 3,
        options={"ftol": tol, "gtol": 1e-9, "maxiter": max_iter, "maxcor": 20},
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"Gamma-Gamma fit diverged: {result.message}")
    estimate = np.exp(result.x)

    def gradient(params: FloatArray) -> FloatArray:
        return _neg_ll_and_grad(np.log(params), pr)[1] * pr.total / params

    se = standard_errors(observed_information(gradient, estimate))
    se[2] /= scale
    p, q, v_scaled = estimate
    total = pr.total
    # Undo the spend scaling in the reported likelihood: each customer's density picks up log(scale).
    ll = float(-result.fun * total + total * np.log(scale))
    return GammaGammaFit(
        p=float(p),
        q=float(q),
        v=float(v_scaled / scale),
        log_likelihood=ll,
        n_customers=round(total),
        iterations=int(result.nit),
        std_errors={"p": float(se[0]), "q": float(se[1]), "v": float(se[2])},
    )


def expected_spend(fit: GammaGammaFit, frequency: FloatArray, monetary_value: FloatArray) -> FloatArray:
    """Expected value of a customer's future purchase given ``x`` repeat purchases averaging ``m``.

    A customer with no repeat purchase gets the population mean ``p v / (q - 1)``.
    """
    x = np.asarray(frequency, dtype=np.float64)
    m = np.asarray(monetary_value, dtype=np.float64)
    conditional = fit.p * (fit.v + x * m) / (fit.p * x + fit.q - 1.0)
    return np.asarray(np.where(x > 0, conditional, fit.population_mean), dtype=np.float64)
