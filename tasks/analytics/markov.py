"""Markov-chain attribution of order 1 to 4, with removal effects computed exactly.

Each journey is a path ``(start) -> s1 -> ... -> sm -> (conversion | null)`` over *states*. At
order 1 a state is a channel; at order ``k`` it is a window of ``k`` consecutive touches (a
journey shorter than ``k`` is one state, all of it), and a state repeated back to back counts
once, as in ChannelAttribution's ``markov_model(order=k)``. Transition counts come from
consecutive pairs, counted with one ``group_by``; rows are normalised into probabilities.

The chain is absorbing in ``(conversion)`` and ``(null)``. With ``Q`` the transient-to-transient
block and ``c`` the transient-to-conversion column, the probability of converting from the start
solves ``(I - Q) x = c`` (a sparse LU, so thousands of higher-order states cost milliseconds).
Removing a channel sends every path through a state that contains it to ``(null)``: those rows of
``Q`` and ``c`` become zero. Its *removal effect* is ``1 - P_without / P``, which equals the share
of converting paths that visit the channel -- what ChannelAttribution estimates by simulating
paths, here solved exactly. The *value* removal effect replaces ``c`` by ``c`` times the mean
conversion value of the conversions leaving each state, so channels are valued by the revenue
they lead to (ChannelAttribution's ``removal_effects_conversion_value``).

The standard Markov attribution (Anderl et al. 2016; ChannelAttribution) gives each channel the
total conversions times its share of the removal effects, and the total value times its share of
the value removal effects: :meth:`MarkovModel.shares`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy.sparse import csc_matrix, csr_matrix, diags, identity
from scipy.sparse.linalg import splu

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"
STATE_SEPARATOR = " > "
MAX_ORDER = 4

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ChainCounts:
    """What a chain is fitted from: transition counts and the value of the conversions per last state.

    ``transitions``: ``src``, ``dst``, ``n`` (states are strings; ``(start)``, ``(conversion)`` and
    ``(null)`` included). ``exits``: ``state``, ``conversions``, ``value`` of the converting
    journeys whose last state it is. ``state_channels``: ``state`` -> its channels.
    """

    transitions: pl.DataFrame
    exits: pl.DataFrame
    state_channels: dict[str, list[str]]
    order: int = 1


@dataclass(frozen=True)
class MarkovModel:
    """The fitted chain: states, transition matrix, conversion probability and removal effects."""

    channels: list[str]
    states: list[str]  # rows/cols of ``transitions``: start, states..., conversion, null
    transitions: csr_matrix
    p_conversion: float
    removal_effects: dict[str, float]
    value_removal_effects: dict[str, float] = field(default_factory=dict)
    order: int = 1

    def shares(self, value: bool = False) -> dict[str, float]:
        """Each channel's share of the (value) removal effects: the standard Markov attribution weights."""
        effects = self.value_removal_effects if value else self.removal_effects
        total = sum(effects.values())
        return {c: (v / total if total > 0 else 0.0) for c, v in effects.items()}

    def frame(self) -> pl.DataFrame:
        """Per channel: removal effect and its share, value removal effect and its share."""
        shares, value_shares = self.shares(), self.shares(value=True)
        return pl.DataFrame(
            {
                "channel": self.channels,
                "removal_effect": [self.removal_effects[c] for c in self.channels],
                "share": [shares[c] for c in self.channels],
                "value_removal_effect": [self.value_removal_effects.get(c, 0.0) for c in self.channels],
                "value_share": [value_shares.get(c, 0.0) for c in self.channels],
            },
            schema={
                "channel": pl.String,
                "removal_effect": pl.Float64,
                "share": pl.Float64,
                "value_removal_effect": pl.Float64,
                "value_share": pl.Float64,
            },
        ).sort("channel")


def _check_order(order: int) -> None:
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"Markov order must be 1 to {MAX_ORDER}, got {order}")


def journey_states(touches: pl.DataFrame, order: int = 1) -> pl.LazyFrame:
    """One row per state visit: ``journey``, ``state``, ``converted``, ``revenue``, ``last``.

    ``touches`` are sorted by journey and time with ``position`` and ``n_touches`` (see
    :mod:`.journeys`). The window of a touch is built from shifted columns (a journey's touches
    are contiguous), so no Python loop runs over journeys.
    """
    _check_order(order)
    pos, n = pl.col("position"), pl.col("n_touches")
    frame = touches.lazy().select("journey", "channel", "converted", "revenue", "position", "n_touches")
    if order == 1:
        states = frame.with_columns(pl.col("channel").alias("state"))
    else:
        # window ending at this touch: the k previous touches of the same journey (fewer at its start)
        parts = [pl.when(pos >= k).then(pl.col("channel").shift(k)) for k in range(order - 1, 0, -1)] + [
            pl.col("channel")
        ]
        window = pl.concat_str(parts, separator=STATE_SEPARATOR, ignore_nulls=True)
        full = (pos >= order - 1) | ((n < order) & (pos == n - 1))
        states = frame.with_columns(window.alias("state")).filter(full)
    # a state repeated back to back counts once (ChannelAttribution drops such self-transitions)
    previous = pl.col("state").shift(1)
    same_journey = pl.col("journey") == pl.col("journey").shift(1)
    return (
        states.filter(~(same_journey & (pl.col("state") == previous)).fill_null(False))
        .with_columns(
            (pl.col("journey") != pl.col("journey").shift(-1)).fill_null(True).alias("last"),
            (pl.col("journey") != pl.col("journey").shift(1)).fill_null(True).alias("first"),
        )
        .select("journey", "state", "converted", "revenue", "first", "last")
    )


def transition_counts(touches: pl.DataFrame, order: int = 1) -> ChainCounts:
    """Transition counts, exit values and state channels over every journey of ``touches``."""
    states = journey_states(touches, order).collect()
    inner = states.select(
        pl.when(pl.col("first")).then(pl.lit(START)).otherwise(pl.col("state").shift(1)).alias("src"),
        pl.col("state").alias("dst"),
    )
    last = states.filter(pl.col("last"))
    exits = last.select(
        pl.col("state").alias("src"),
        pl.when(pl.col("converted")).then(pl.lit(CONVERSION)).otherwise(pl.lit(NULL)).alias("dst"),
    )
    transitions = (
        pl.concat([inner, exits])
        .group_by("src", "dst")
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort("src", "dst")
    )
    exit_values = (
        last.filter(pl.col("converted"))
        .group_by("state")
        .agg(
            pl.len().cast(pl.Int64).alias("conversions"),
            pl.col("revenue").fill_null(0.0).sum().alias("value"),
        )
        .sort("state")
    )
    names = states.get_column("state").unique().to_list()
    return ChainCounts(
        transitions, exit_values, {s: sorted(set(s.split(STATE_SEPARATOR))) for s in names}, order
    )


def _absorption(
    q: csr_matrix, target: FloatArray, removed_rows: npt.NDArray[np.bool_] | None = None
) -> float:
    """Expected ``target`` reward at absorption from the start (row 0) with ``removed_rows`` sent to null."""
    n = q.shape[0]
    if removed_rows is not None and removed_rows.any():
        q = diags((~removed_rows).astype(np.float64)) @ q
        target = np.where(removed_rows, 0.0, target)
    system = csc_matrix(identity(n, format="csc") - q)
    return float(splu(system).solve(target)[0])


def fit_markov(counts: ChainCounts) -> MarkovModel:
    """Row-normalise the transition counts and compute each channel's removal effects exactly."""
    transitions = counts.transitions
    names = set(transitions.get_column("src").to_list()) | set(transitions.get_column("dst").to_list())
    inner_states = sorted(names - {START, CONVERSION, NULL})
    states = [START, *inner_states, CONVERSION, NULL]
    index = {s: i for i, s in enumerate(states)}
    size = len(states)
    if transitions.height:
        src = np.array([index[s] for s in transitions.get_column("src").to_list()], dtype=np.int64)
        dst = np.array([index[s] for s in transitions.get_column("dst").to_list()], dtype=np.int64)
        n = transitions.get_column("n").to_numpy().astype(np.float64)
    else:
        src = dst = np.zeros(0, dtype=np.int64)
        n = np.zeros(0)
    rows = np.bincount(src, weights=n, minlength=size)
    prob = n / np.where(rows[src] > 0, rows[src], 1.0)
    matrix = csr_matrix((prob, (src, dst)), shape=(size, size))
    channel_of = {s: counts.state_channels.get(s, s.split(STATE_SEPARATOR)) for s in inner_states}
    channels = sorted({c for cs in channel_of.values() for c in cs})
    if not channels:
        return MarkovModel([], states, matrix, 0.0, {}, {}, counts.order)
    transient = size - 2  # start + states
    q = matrix[:transient, :transient].tocsr()
    to_conversion = np.asarray(matrix[:transient, index[CONVERSION]].todense()).ravel()
    mean_value = np.zeros(transient)
    for state, conv, value in counts.exits.iter_rows():
        if state in index and conv > 0:
            mean_value[index[state]] = value / conv
    to_value = to_conversion * mean_value
    base = _absorption(q, to_conversion)
    base_value = _absorption(q, to_value)
    effects: dict[str, float] = {}
    value_effects: dict[str, float] = {}
    for channel in channels:
        removed = np.zeros(transient, dtype=bool)
        for state, in_state in channel_of.items():
            if channel in in_state:
                removed[index[state]] = True
        effects[channel] = 1.0 - _absorption(q, to_conversion, removed) / base if base > 0 else 0.0
        value_effects[channel] = (
            1.0 - _absorption(q, to_value, removed) / base_value if base_value > 0 else 0.0
        )
    return MarkovModel(channels, states, matrix, base, effects, value_effects, counts.order)
