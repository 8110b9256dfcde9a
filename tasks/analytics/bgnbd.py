"""BG/NBD (beta-geometric / negative binomial) purchase model, fitted by maximum likelihood.

The model (Fader, Hardie and Lee 2005, "Counting your customers the easy way") says a live
customer buys as a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and, after each repeat
purchase, drops out for good with probability ``p ~ Beta(a, b)``. Its input per customer is the
RFM summary in lifetimes' conventions: ``frequency`` (repeat purchase periods), ``recency``
(first to last purchase) and ``T`` (first purchase to the end of observation), all in days.

The likelihood used for fitting is the closed form of the paper's equation (6), with no Gauss
hypergeometric function; it is evaluated with numpy over *unique* ``(frequency, recency, T)``
triples weighted by how many customers share each one, and its analytic gradient is handed to
L-BFGS-B over the log-parameters. The terms that depend on ``frequency`` alone (gamma and beta
functions) are computed once per distinct frequency, the logarithms once per distinct recency
and T, which keeps one evaluation over a million customers in the milliseconds.

The MBG/NBD variant (Batislam, Denizel and Filiztekin 2007; lifetimes' ``ModifiedBetaGeoFitter``)
lets a customer also drop out right after the first purchase, so one-time buyers are not all
assumed alive; it is fitted and predicted by the same functions with ``model="mbgnbd"``.

Time is rescaled while optimizing; the reported log-likelihood is in the caller's time unit
(rescaling by ``s`` shifts it by ``sum(weight * frequency) * log(s)``), so it is comparable with
lifetimes and the published figures (CDNOW, weeks: -9582.4). Standard errors come from the
observed information matrix (the Hessian of the negative log-likelihood at the optimum, by central
differences of the analytic gradient), as lifetimes reports them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize
from scipy.special import digamma, expit, gammaln, hyp2f1

from aicmo.tasks.analytics.fit_uncertainty import (
    json_errors,
    observed_information,
    standard_errors,
    wald_intervals,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
PurchaseModel = Literal["bgnbd", "mbgnbd"]
PURCHASE_MODELS: tuple[PurchaseModel, ...] = ("bgnbd", "mbgnbd")
PARAMS = ("r", "alpha", "a", "b")


class FitError(RuntimeError):
    """The optimizer did not reach a maximum of the likelihood."""


@dataclass(frozen=True)
class BgNbdFit:
    """Fitted BG/NBD (or MBG/NBD) parameters (time unit: the input's, days in the pipeline).

    ``std_errors`` are from the observed information matrix (NaN where it is not positive
    definite); ``model`` says which likelihood was fitted.
    """

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    n_customers: int
    n_unique: int
    iterations: int
    std_errors: dict[str, float] = field(default_factory=dict)
    model: PurchaseModel = "bgnbd"

    def params(self) -> dict[str, float]:
        """The four model parameters by name."""
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def confidence_intervals(self, level: float = 0.95) -> dict[str, tuple[float, float]]:
        """Wald intervals ``estimate -/+ z * std_error`` per parameter (as lifetimes' summary)."""
        return wald_intervals(self.params(), self.std_errors, level)

    def as_dict(self) -> dict[str, Any]:
        """Everything, as plain values (for artifacts and the flow's summary).

        A standard error that could not be estimated is None, so the summary stays valid JSON.
        """
        return {**asdict(self), "std_errors": json_errors(self.std_errors)}


def _dot(a: FloatArray, b: FloatArray) -> float:
    """Inner product without BLAS: multi-threaded BLAS busy-waits on a loaded machine for small vectors."""
    return float(np.einsum("i,i->", a, b))


@dataclass(frozen=True)
class _Indexed:
    """Unique triples, factorised so per-frequency and per-time terms are computed once.

    Rows with ``frequency == 0`` (their likelihood has one term) and repeat rows (two terms)
    are kept apart, each with indices into the distinct frequencies, recencies and ages.
    """

    x_values: FloatArray
    x_weight: FloatArray
    tx_values: FloatArray
    t_values: FloatArray
    w0: FloatArray
    t_idx0: IntArray
    w1: FloatArray
    x1: FloatArray
    x_idx1: IntArray
    tx_idx1: IntArray
    t_idx1: IntArray


def _factorise(values: FloatArray) -> tuple[FloatArray, IntArray]:
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq.astype(np.float64), inverse.astype(np.int64)


def _index(frequency: FloatArray, recency: FloatArray, age: FloatArray, weight: FloatArray) -> _Indexed:
    x_values, x_idx = _factorise(frequency)
    tx_values, tx_idx = _factorise(recency)
    t_values, t_idx = _factorise(age)
    x_weight = np.bincount(x_idx, weights=weight, minlength=x_values.size).astype(np.float64)
    rep = frequency > 0
    return _Indexed(
        x_values=x_values,
        x_weight=x_weight,
        tx_values=tx_values,
        t_values=t_values,
        w0=np.ascontiguousarray(weight[~rep]),
        t_idx0=np.ascontiguousarray(t_idx[~rep]),
        w1=np.ascontiguousarray(weight[rep]),
        x1=np.ascontiguousarray(frequency[rep]),
        x_idx1=np.ascontiguousarray(x_idx[rep]),
        tx_idx1=np.ascontiguousarray(tx_idx[rep]),
        t_idx1=np.ascontiguousarray(t_idx[rep]),
    )


def _check(frequency: FloatArray, recency: FloatArray, age: FloatArray, weight: FloatArray) -> None:
    n = frequency.shape[0]
    if n == 0:
        raise ValueError("BG/NBD: no customers to fit")
    if recency.shape[0] != n or age.shape[0] != n or weight.shape[0] != n:
        raise ValueError("BG/NBD: frequency, recency, T and weights must have the same length")
    if np.any(frequency < 0) or np.any(np.floor(frequency) != frequency):
        raise ValueError("BG/NBD: frequency must be a non-negative integer count")
    if np.any(recency < 0) or np.any(recency > age):
        raise ValueError("BG/NBD: recency must lie in [0, T]")
    if np.any((frequency == 0) & (recency != 0)):
        raise ValueError("BG/NBD: recency must be 0 where frequency is 0")
    if np.any(weight < 0):
        raise ValueError("BG/NBD: weights must be non-negative")


def _neg_ll_and_grad(log_params: FloatArray, ix: _Indexed, total: float) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient with respect to the log-parameters."""
    r, alpha, a, b = np.exp(log_params)
    xv = ix.x_values
    xw = ix.x_weight

    # Terms of frequency alone, once per distinct frequency, weighted by its customer count.
    a1 = gammaln(r + xv) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + xv) - gammaln(b) - gammaln(a + b + xv)
    d_r_x = digamma(r + xv) - digamma(r) + np.log(alpha)
    d_a_x = digamma(a + b) - digamma(a + b + xv)
    d_b_x = d_a_x + digamma(b + xv) - digamma(b)

    ll = _dot(xw, a1 + a2)
    g_r = _dot(xw, d_r_x)
    g_alpha = float(xw.sum() * r / alpha)
    g_a = _dot(xw, d_a_x)
    g_b = _dot(xw, d_b_x)

    # log(alpha + T) and log(alpha + t_x) once per distinct value, then gathered per row.
    log_at_u = np.log(alpha + ix.t_values)
    inv_at_u = 1.0 / (alpha + ix.t_values)
    log_atx_u = np.log(alpha + ix.tx_values)
    inv_atx_u = 1.0 / (alpha + ix.tx_values)

    # One-time buyers: A3 = -r log(alpha + T) only.
    ll -= r * _dot(ix.w0, log_at_u[ix.t_idx0])
    g_r -= _dot(ix.w0, log_at_u[ix.t_idx0])
    g_alpha -= r * _dot(ix.w0, inv_at_u[ix.t_idx0])

    # Repeat buyers: log(exp(A3) + exp(A4)) with A4 = log a - log(b + x - 1) - (r + x) log(alpha + t_x).
    log_at = log_at_u[ix.t_idx1]
    log_atx = log_atx_u[ix.tx_idx1]
    rx = r + ix.x1
    log_bx1_u = np.log(np.maximum(b + ix.x_values - 1.0, 1e-300))
    a3 = -rx * log_at
    a4 = (np.log(a) - log_bx1_u[ix.x_idx1]) - rx * log_atx
    ll += _dot(ix.w1, np.logaddexp(a3, a4))
    share4 = expit(a4 - a3)  # exp(A4) / (exp(A3) + exp(A4))
    w4 = ix.w1 * share4
    w3 = ix.w1 - w4
    g_r -= _dot(w3, log_at) + _dot(w4, log_atx)
    g_alpha -= _dot(w3, rx * inv_at_u[ix.t_idx1]) + _dot(w4, rx * inv_atx_u[ix.tx_idx1])
    g_a += float(w4.sum()) / a
    g_b -= _dot(w4, np.exp(-log_bx1_u)[ix.x_idx1])

    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    return -ll / total, -grad / total


def _neg_ll_and_grad_mbg(log_params: FloatArray, ix: _Indexed, total: float) -> tuple[float, FloatArray]:
    """MBG/NBD: mean negative log-likelihood and gradient (log-parameters).

    Per customer ``A1 + A2' + log(exp(A3) + exp(A4))`` with ``A2'`` using ``b + x + 1`` and
    ``A4 = log a - log(b + x) - (r + x) log(alpha + t_x)`` for every customer, one-time buyers
    included (``t_x = 0``): they too may have dropped out after their first purchase.
    """
    r, alpha, a, b = np.exp(log_params)
    xv, xw = ix.x_values, ix.x_weight
    a1 = gammaln(r + xv) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + xv + 1.0) - gammaln(b) - gammaln(a + b + xv + 1.0)
    d_a_x = digamma(a + b) - digamma(a + b + xv + 1.0)
    ll = _dot(xw, a1 + a2)
    g_r = _dot(xw, digamma(r + xv) - digamma(r) + np.log(alpha))
    g_alpha = float(xw.sum() * r / alpha)
    g_a = _dot(xw, d_a_x)
    g_b = _dot(xw, d_a_x + digamma(b + xv + 1.0) - digamma(b))

    # every row as (weight, x, log(alpha + T), log(alpha + t_x)), one-time buyers first
    log_at_u = np.log(alpha + ix.t_values)
    log_atx_u = np.log(alpha + ix.tx_values)
    w = np.concatenate([ix.w0, ix.w1])
    x = np.concatenate([np.zeros_like(ix.w0), ix.x1])
    log_at = np.concatenate([log_at_u[ix.t_idx0], log_at_u[ix.t_idx1]])
    log_atx = np.concatenate([np.full(ix.w0.shape, np.log(alpha)), log_atx_u[ix.tx_idx1]])
    rx = r + x
    a3 = -rx * log_at
    a4 = np.log(a) - np.log(b + x) - rx * log_atx
    ll += _dot(w, np.logaddexp(a3, a4))
    w4 = w * expit(a4 - a3)
    w3 = w - w4
    g_r -= _dot(w3, log_at) + _dot(w4, log_atx)
    g_alpha -= _dot(w3, rx * np.exp(-log_at)) + _dot(w4, rx * np.exp(-log_atx))
    g_a += float(w4.sum()) / a
    g_b -= _dot(w4, 1.0 / (b + x))
    grad = np.array([g_r * r, g_alpha * alpha, g_a * a, g_b * b])
    return -ll / total, -grad / total


OBJECTIVES = {"bgnbd": _neg_ll_and_grad, "mbgnbd": _neg_ll_and_grad_mbg}


def log_likelihood(
    params: dict[str, float],
    frequency: FloatArray,
    recency: FloatArray,
    age: FloatArray,
    weights: FloatArray | None = None,
    *,
    model: PurchaseModel = "bgnbd",
) -> float:
    """Total log-likelihood of the data under ``params`` (weights count customers per row)."""
    w = np.ones_like(frequency, dtype=np.float64) if weights is None else np.asarray(weights, np.float64)
    ix = _index(
        np.asarray(frequency, np.float64), np.asarray(recency, np.float64), np.asarray(age, np.float64), w
    )
    theta = np.log([params["r"], params["alpha"], params["a"], params["b"]])
    value, _ = OBJECTIVES[model](theta, ix, 1.0)
    return -value


WARM_START_ROWS = 50_000


def warm_start_rows(n_rows: int, seed: int = 0) -> IntArray | None:
    """A uniform sample of rows to fit first when there are many, so the full fit starts near the optimum.

    Keeping each sampled row's weight makes the sample's log-likelihood an unbiased (scaled)
    estimate of the full one; the full fit then only polishes, in a few iterations.
    """
    if n_rows <= 2 * WARM_START_ROWS:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=WARM_START_ROWS, replace=False)).astype(np.int64)


def fit_bgnbd(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    age: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    model: PurchaseModel = "bgnbd",
    tol: float = 1e-12,
    max_iter: int = 2000,
) -> BgNbdFit:
    """Maximum-likelihood BG/NBD (or MBG/NBD) parameters for an RFM summary (one row per customer or triple).

    ``weights`` says how many customers each row stands for (the compressed summary's counts).
    Time is rescaled so the longest ``T`` is 10 while optimizing (as lifetimes does), which keeps
    the problem well conditioned; ``alpha``, its standard error and the log-likelihood are
    reported back in the input's time unit.
    """
    objective = OBJECTIVES[model]
    f = np.asarray(frequency, dtype=np.float64)
    rec = np.asarray(recency, dtype=np.float64)
    t = np.asarray(age, dtype=np.float64)
    w = np.ones_like(f) if weights is None else np.asarray(weights, dtype=np.float64)
    _check(f, rec, t, w)
    keep = w > 0
    f, rec, t, w = f[keep], rec[keep], t[keep], w[keep]
    scale = 10.0 / float(t.max()) if t.max() > 0 else 1.0
    x0 = np.zeros(4)
    sample = warm_start_rows(f.shape[0])
    if sample is not None:
        ix_s = _index(f[sample], rec[sample] * scale, t[sample] * scale, w[sample])
        start = minimize(
            objective,
            x0=x0,
            args=(ix_s, float(w[sample].sum())),
            jac=True,
            method="L-BFGS-B",
            bounds=[(-15.0, 15.0)] * 4,
            options={"ftol": 1e-10, "gtol": 1e-7, "maxiter": max_iter},
        )
        if np.all(np.isfinite(start.x)):
            x0 = start.x
    ix = _index(f, rec * scale, t * scale, w)
    total = float(w.sum())
    result = minimize(
        objective,
        x0=x0,
        args=(ix, total),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-15.0, 15.0)] * 4,
        options={"ftol": tol, "gtol": 1e-9, "maxiter": max_iter, "maxcor": 20},
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"{model} fit diverged: {result.message}")
    estimate = np.exp(result.x)

    def gradient(params: FloatArray) -> FloatArray:
        # total negative log-likelihood's gradient in the natural parameters (scaled time)
        return objective(np.log(params), ix, total)[1] * total / params

    se = standard_errors(observed_information(gradient, estimate))
    se[1] /= scale
    r, alpha_scaled, a, b = estimate
    # log-likelihood back in the input's time unit: each purchase's density picks up log(scale)
    ll = float(-result.fun * total + _dot(w, f) * np.log(scale))
    return BgNbdFit(
        r=float(r),
        alpha=float(alpha_scaled / scale),
        a=float(a),
        b=float(b),
        log_likelihood=ll,
        n_customers=round(total),
        n_unique=int(f.shape[0]),
        iterations=int(result.nit),
        std_errors={name: float(v) for name, v in zip(PARAMS, se, strict=True)},
        model=model,
    )


def expected_purchases(
    fit: BgNbdFit, t: float | FloatArray, frequency: FloatArray, recency: FloatArray, age: FloatArray
) -> FloatArray:
    """Expected purchases in the next ``t`` days of a customer with this history.

    BG/NBD: Fader, Hardie and Lee 2005, eq. 10; MBG/NBD: Batislam et al. 2007 (as lifetimes).
    """
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    big_t = np.asarray(age, dtype=np.float64)
    t_arr = np.asarray(t, dtype=np.float64)
    if fit.model == "mbgnbd":
        first = (a + b + x) / (a - 1.0)
        hyp = hyp2f1(r + x, b + x + 1.0, a + b + x, t_arr / (alpha + big_t + t_arr))
        second = 1.0 - hyp * ((alpha + big_t) / (alpha + t_arr + big_t)) ** (r + x)
        return np.asarray(first * second / _odds_dead(fit, x, tx, big_t), dtype=np.float64)
    first = (a + b + x - 1.0) / (a - 1.0)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1.0, t_arr / (alpha + big_t + t_arr))
    second = 1.0 - hyp * ((alpha + big_t) / (alpha + t_arr + big_t)) ** (r + x)
    return np.asarray(first * second / _odds_dead(fit, x, tx, big_t), dtype=np.float64)


def _odds_dead(fit: BgNbdFit, x: FloatArray, tx: FloatArray, big_t: FloatArray) -> FloatArray:
    """``1 + P(dead | history) / P(alive | history)`` (BG/NBD: 1 for one-time buyers)."""
    ratio = ((fit.alpha + big_t) / (fit.alpha + tx)) ** (fit.r + x)
    if fit.model == "mbgnbd":
        return np.asarray(1.0 + fit.a / (fit.b + x) * ratio, dtype=np.float64)
    repeat = x > 0
    return np.asarray(
        1.0 + np.where(repeat, fit.a / np.where(repeat, fit.b + x - 1.0, 1.0) * ratio, 0.0), dtype=np.float64
    )


def probability_alive(
    fit: BgNbdFit, frequency: FloatArray, recency: FloatArray, age: FloatArray
) -> FloatArray:
    """P(customer still active at the end of observation | history) (FHL eq. 11; MBG/NBD likewise)."""
    x = np.asarray(frequency, dtype=np.float64)
    tx = np.asarray(recency, dtype=np.float64)
    big_t = np.asarray(age, dtype=np.float64)
    b_term = fit.b + x if fit.model == "mbgnbd" else fit.b + np.maximum(x, 1.0) - 1.0
    log_div = (fit.r + x) * np.log((fit.alpha + big_t) / (fit.alpha + tx)) + np.log(fit.a / b_term)
    if fit.model == "mbgnbd":
        return np.asarray(expit(-log_div), dtype=np.float64)
    return np.asarray(np.where(x == 0, 1.0, expit(-log_div)), dtype=np.float64)


def population_expected_purchases(fit: BgNbdFit, t: float | FloatArray) -> FloatArray:
    """Expected repeat purchases in ``(0, t]`` of a new customer (FHL eq. 9; MBG/NBD likewise)."""
    t_arr = np.asarray(t, dtype=np.float64)
    r, alpha, a, b = fit.r, fit.alpha, fit.a, fit.b
    if fit.model == "mbgnbd":
        hyp = hyp2f1(r, b + 1.0, a + b, t_arr / (alpha + t_arr))
        return np.asarray(b / (a - 1.0) * (1.0 - (alpha / (alpha + t_arr)) ** r * hyp), np.float64)
    hyp = hyp2f1(r, b, a + b - 1.0, t_arr / (alpha + t_arr))
    return np.asarray((a + b - 1.0) / (a - 1.0) * (1.0 - (alpha / (alpha + t_arr)) ** r * hyp), np.float64)
