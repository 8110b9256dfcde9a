"""First-order Markov attribution: transition counts from journeys, removal effects from the chain.

Each journey is a path ``start -> c1 -> ... -> ck -> (conversion | null)``. Transition counts
come from consecutive pairs (a shift within each journey), counted with one ``group_by``. The
chain is absorbing in ``conversion`` and ``null``; the probability of reaching ``conversion``
from ``start`` solves ``(I - Q) x = r`` (``Q`` transient-to-transient, ``r`` transient-to-
conversion). Removing a channel sends every path through it to ``null`` (its row of ``Q`` and
``r`` set to zero); its removal effect is ``1 - P_without / P``. The solves are on a matrix of
channels + 1 rows, a few microseconds each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"


@dataclass(frozen=True)
class MarkovModel:
    """The fitted chain: states, transition matrix, conversion probability and removal effects."""

    channels: list[str]
    transitions: np.ndarray  # rows/cols: start, channels..., conversion, null
    p_conversion: float
    removal_effects: dict[str, float]

    def frame(self) -> pl.DataFrame:
        """Removal effects per channel, with each one's share of their sum."""
        total = sum(self.removal_effects.values())
        return pl.DataFrame(
            {
                "channel": list(self.removal_effects),
                "removal_effect": list(self.removal_effects.values()),
                "share": [v / total if total > 0 else None for v in self.removal_effects.values()],
            },
            schema={"channel": pl.String, "removal_effect": pl.Float64, "share": pl.Float64},
        ).sort("channel")


def transition_counts(touches: pl.DataFrame) -> pl.DataFrame:
    """``(src, dst, n)`` over every journey of ``touches`` (sorted by journey, ts; ``converted`` flag)."""
    path = touches.lazy().select("journey", "channel", "converted", "position", "n_touches")
    inner = path.select(
        pl.when(pl.col("position") == 0)
        .then(pl.lit(START))
        .otherwise(pl.col("channel").shift(1))
        .alias("src"),
        pl.col("channel").alias("dst"),
    )
    exits = path.filter(pl.col("position") == pl.col("n_touches") - 1).select(
        pl.col("channel").alias("src"),
        pl.when(pl.col("converted")).then(pl.lit(CONVERSION)).otherwise(pl.lit(NULL)).alias("dst"),
    )
    return (
        pl.concat([inner, exits])
        .group_by("src", "dst")
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort("src", "dst")
        .collect()
    )


def _p_conversion(matrix: np.ndarray, removed: int | None = None) -> float:
    n = matrix.shape[0] - 2  # transient states: start + channels
    q = matrix[:n, :n].copy()
    r = matrix[:n, n].copy()
    if removed is not None:
        q[removed, :] = 0.0
        r[removed] = 0.0
    x = np.linalg.solve(np.eye(n) - q, r)
    return float(x[0])


def fit_markov(counts: pl.DataFrame) -> MarkovModel:
    """Row-normalise the transition counts and compute each channel's removal effect."""
    channels = sorted(
        set(counts.get_column("src").to_list())
        | set(counts.get_column("dst").to_list()) - {START, CONVERSION, NULL}
    )
    channels = [c for c in channels if c not in (START, CONVERSION, NULL)]
    states = [START, *channels, CONVERSION, NULL]
    index = {s: i for i, s in enumerate(states)}
    matrix = np.zeros((len(states), len(states)))
    if counts.height:
        src = np.array([index[s] for s in counts.get_column("src").to_list()])
        dst = np.array([index[s] for s in counts.get_column("dst").to_list()])
        np.add.at(matrix, (src, dst), counts.get_column("n").to_numpy().astype(float))
    rows = matrix.sum(axis=1, keepdims=True)
    matrix = np.divide(matrix, rows, out=np.zeros_like(matrix), where=rows > 0)
    if not channels:
        return MarkovModel([], matrix, 0.0, {})
    base = _p_conversion(matrix)
    effects = {
        c: (1.0 - _p_conversion(matrix, removed=index[c]) / base) if base > 0 else 0.0 for c in channels
    }
    return MarkovModel(channels, matrix, base, effects)
