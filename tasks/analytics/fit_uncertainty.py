"""Parameter uncertainty of a maximum-likelihood fit: observed information, standard errors, intervals.

The observed information matrix is the Hessian of the total negative log-likelihood at the
optimum. The fits here have analytic gradients, so the Hessian is taken by central differences
of the gradient (one pair of gradient evaluations per parameter), which is accurate to about
``1e-8`` relative, against ``1e-4`` for second differences of the likelihood itself. Its inverse
is the asymptotic covariance of the estimates; standard errors are the square roots of its
diagonal, as lifetimes reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

FloatArray = npt.NDArray[np.float64]


def observed_information(gradient: Callable[[FloatArray], FloatArray], estimate: FloatArray) -> FloatArray:
    """Hessian of the negative log-likelihood at ``estimate`` from its gradient (symmetrised)."""
    x = np.asarray(estimate, dtype=np.float64)
    n = x.size
    hessian = np.empty((n, n))
    for i in range(n):
        step = 1e-6 * max(abs(x[i]), 1e-6)
        up, down = x.copy(), x.copy()
        up[i] += step
        down[i] -= step
        hessian[:, i] = (gradient(up) - gradient(down)) / (2.0 * step)
    return (hessian + hessian.T) / 2.0


def standard_errors(information: FloatArray) -> FloatArray:
    """Square roots of the diagonal of the inverse information (NaN if it is not positive definite)."""
    try:
        np.linalg.cholesky(information)
    except np.linalg.LinAlgError:
        return np.full(information.shape[0], np.nan)
    covariance = np.linalg.inv(information)
    return np.sqrt(np.clip(np.diag(covariance), 0.0, None))


def wald_intervals(
    estimates: Mapping[str, float], std_errors: Mapping[str, float], level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """``estimate -/+ z * se`` per parameter at confidence ``level`` (NaN bounds without a std error)."""
    z = float(norm.ppf(0.5 + level / 2.0))
    nan = float("nan")
    return {
        name: (value - z * std_errors.get(name, nan), value + z * std_errors.get(name, nan))
        for name, value in estimates.items()
    }


def json_errors(std_errors: Mapping[str, float]) -> dict[str, float | None]:
    """Standard errors for JSON: NaN (information not positive definite) becomes None."""
    return {k: (v if np.isfinite(v) else None) for k, v in std_errors.items()}
