"""The statistics of an experiment: the mSPRT with a normal mixture, its sample size, and intervals.

The mixture sequential probability ratio test (Robbins 1970; Johari, Pekelis and Walsh, "Always
valid inference", 2017) compares a challenger's mean per send with the control's. With the
difference ``d`` of the two means, its variance ``V`` (pooled, as under no difference) and a normal
mixing distribution N(0, tau^2) over the true difference, the likelihood ratio is

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 d^2 / (2 V (V + tau^2)))

and under no difference P(Lambda ever reaches 1/alpha) <= alpha, however often it is looked at.
The always-valid p-value is the running minimum of 1/Lambda. ``tau`` is set to the minimum
detectable effect, the size of difference the test is tuned to find.

The sample size is the smallest n per variant at which the test, looked at once after all n
sends, finds the stated effect with the stated power; looking earlier as well can only add
rejections, so the plan is a lower bound on the power reached while monitoring.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)


def normal_cdf(z: float) -> float:
    """Phi(z), the standard normal distribution function."""
    return 0.5 * math.erfc(-z / _SQRT2)


def normal_quantile(p: float) -> float:
    """Phi^-1(p) by bisection on ``normal_cdf`` (exact to 1e-12; called a handful of times)."""
    if not 0.0 < p < 1.0:
        raise ValueError("p must be in (0, 1)")
    lo, hi = -40.0, 40.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if normal_cdf(mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def log_mixture_ratio(d: float, variance: float, tau2: float) -> float:
    """log Lambda of the normal-mixture SPRT for an observed difference ``d`` with ``variance``."""
    if variance <= 0.0 or not math.isfinite(variance):
        return 0.0
    return 0.5 * math.log(variance / (variance + tau2)) + tau2 * d * d / (2.0 * variance * (variance + tau2))


def critical_difference(variance: float, tau2: float, alpha: float) -> float:
    """The |d| at which Lambda reaches 1/alpha for this variance."""
    inner = math.log(1.0 / alpha) + 0.5 * math.log((variance + tau2) / variance)
    return math.sqrt(2.0 * variance * (variance + tau2) / tau2 * inner)


@dataclass(frozen=True)
class Arm:
    """One variant's data: sends, and the sum and sum of squares of the metric per send."""

    sends: int
    total: float
    total_sq: float

    @property
    def mean(self) -> float:
        """The metric per send (0 before any send)."""
        return self.total / self.sends if self.sends else 0.0


@dataclass(frozen=True)
class Comparison:
    """A challenger against the control at one look."""

    difference: float  # challenger minus control
    low: float  # always-valid confidence sequence at this look
    high: float
    log_ratio: float
    p_value: float  # 1 / Lambda at this look (the running minimum is the always-valid p)


def pooled_variance(a: Arm, b: Arm) -> float:
    """The per-send variance of the two arms pooled (as under no difference)."""
    n = a.sends + b.sends
    if n < 2:
        return 0.0
    mean = (a.total + b.total) / n
    return max(0.0, (a.total_sq + b.total_sq) / n - mean * mean) * n / (n - 1)


def compare(control: Arm, challenger: Arm, *, tau: float, alpha: float) -> Comparison:
    """The mSPRT statistic and the always-valid interval of ``challenger - control``."""
    d = challenger.mean - control.mean
    if control.sends == 0 or challenger.sends == 0:
        return Comparison(d, -math.inf, math.inf, 0.0, 1.0)
    var = pooled_variance(control, challenger) * (1.0 / control.sends + 1.0 / challenger.sends)
    tau2 = tau * tau
    if var <= 0.0:
        return Comparison(d, -math.inf, math.inf, 0.0, 1.0)
    log_ratio = log_mixture_ratio(d, var, tau2)
    half = critical_difference(var, tau2, alpha)
    return Comparison(d, d - half, d + half, log_ratio, min(1.0, math.exp(-log_ratio)))


@dataclass(frozen=True)
class Plan:
    """What a test needs: sends per variant for the stated effect, and what it reaches."""

    per_variant: int
    variants: int
    alpha_per_comparison: float
    planned_power: float  # at the stated effect, looking once at the end (a lower bound)
    fixed_horizon_per_variant: int  # a one-look z-test's n, for comparison

    @property
    def total(self) -> int:
        """Sends in the test phase."""
        return self.per_variant * self.variants


def _power_at(n: int, baseline_var: float, effect_var: float, mde: float, tau2: float, alpha: float) -> float:
    pooled = (baseline_var + effect_var) / 2.0
    variance_h0 = pooled * 2.0 / n
    variance_h1 = (baseline_var + effect_var) / n
    c = critical_difference(variance_h0, tau2, alpha)
    return normal_cdf((mde - c) / math.sqrt(variance_h1))


def sample_size(
    *,
    baseline: float,
    mde: float,
    alpha: float,
    power: float,
    variants: int,
    metric_sd: float | None = None,
) -> Plan:
    """Sends per variant so the mSPRT finds ``mde`` (absolute, per send) with ``power``.

    For rates the variance per send is p(1-p) at the baseline and at baseline + mde; for revenue
    per send give ``metric_sd``. The k-1 comparisons with the control share ``alpha``
    (Bonferroni), so the chance of any false winner stays at or below ``alpha``.
    """
    comparisons = max(1, variants - 1)
    a = alpha / comparisons
    if metric_sd is not None:
        var0 = var1 = metric_sd * metric_sd
    else:
        p1 = min(max(baseline + mde, 1e-9), 1 - 1e-9)
        var0, var1 = baseline * (1 - baseline), p1 * (1 - p1)
    tau2 = mde * mde
    lo, hi = 2, 2
    while _power_at(hi, var0, var1, mde, tau2, a) < power:
        lo, hi = hi, hi * 2
        if hi > 10**9:
            raise ValueError("the effect is too small to detect with any practical sample")
    while lo < hi:
        mid = (lo + hi) // 2
        if _power_at(mid, var0, var1, mde, tau2, a) >= power:
            hi = mid
        else:
            lo = mid + 1
    z = normal_quantile(1 - a / 2) + normal_quantile(power)
    fixed = math.ceil(z * z * (var0 + var1) / (mde * mde))
    return Plan(hi, variants, a, _power_at(hi, var0, var1, mde, tau2, a), fixed)


@dataclass(frozen=True)
class Difference:
    """A difference of two means per contact with its (fixed-sample) confidence interval."""

    treated: float
    holdout: float
    difference: float
    low: float
    high: float

    @property
    def relative(self) -> float | None:
        """The lift as a fraction of the holdout's mean (None when the holdout has none)."""
        return self.difference / self.holdout if self.holdout else None


def welch_interval(treated: Arm, holdout: Arm, *, level: float = 0.95) -> Difference:
    """treated - holdout with a normal (Welch) interval at ``level``."""

    def var(arm: Arm) -> float:
        if arm.sends < 2:
            return 0.0
        return max(0.0, (arm.total_sq - arm.sends * arm.mean**2) / (arm.sends - 1))

    d = treated.mean - holdout.mean
    se = math.sqrt(
        (var(treated) / treated.sends if treated.sends else math.inf)
        + (var(holdout) / holdout.sends if holdout.sends else math.inf)
    )
    z = normal_quantile(0.5 + level / 2)
    return Difference(treated.mean, holdout.mean, d, d - z * se, d + z * se)
