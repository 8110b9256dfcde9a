"""Markov chains of order 1-4 and Shapley values, each against an independent second implementation.

- Markov: the removal effects solved exactly (sparse linear algebra on the chain with a channel's
  states sent to null) must equal what a forward propagation of probability mass over
  (state, channels visited so far) gives, with no linear solve and no simulation: the removal
  effect of a channel is the share of the conversion probability that visited it.
- Shapley: the closed form over observed channel sets must equal the textbook Shapley formula
  over all 2^n coalitions (characteristic function by a subset-sum transform), at 16 channels.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aicmo.tasks.analytics.attribution import attribute
from aicmo.tasks.analytics.markov import fit_markov, transition_counts
from aicmo.tasks.analytics.shapley import fit_shapley
from tests.analytics.kpi_helpers import D1, EventLog, at
from tests.analytics.test_attribution import _credits, three_contacts

Path = tuple[list[str], bool, float]  # channels, converted, revenue


def touches_frame(paths: list[Path]) -> pl.DataFrame:
    """Journeys' touches in the shape :mod:`.journeys` builds (sorted by journey, with positions)."""
    rows = [
        {
            "journey": j,
            "channel": channel,
            "converted": converted,
            "revenue": revenue if converted else None,
            "position": i,
            "n_touches": len(channels),
        }
        for j, (channels, converted, revenue) in enumerate(paths)
        for i, channel in enumerate(channels)
    ]
    return pl.DataFrame(
        rows,
        schema={
            "journey": pl.Int64,
            "channel": pl.String,
            "converted": pl.Boolean,
            "revenue": pl.Float64,
            "position": pl.Int32,
            "n_touches": pl.Int32,
        },
    )


def reference_removal_effects(paths: list[Path], order: int) -> tuple[dict[str, float], dict[str, float]]:
    """Removal effects by propagating probability mass over (state, visited channels), step by step."""

    def states(channels: list[str]) -> list[tuple[str, ...]]:
        windows = (
            [tuple(channels)]
            if len(channels) <= order
            else [tuple(channels[i : i + order]) for i in range(len(channels) - order + 1)]
        )
        out: list[tuple[str, ...]] = []
        for w in windows:
            if not out or out[-1] != w:
                out.append(w)
        return out

    counts: Counter[tuple[object, object]] = Counter()
    exit_value: dict[object, list[float]] = defaultdict(list)
    for channels, converted, revenue in paths:
        seq = states(channels)
        previous: object = "start"
        for s in seq:
            counts[previous, s] += 1
            previous = s
        counts[previous, "conv" if converted else "null"] += 1
        if converted:
            exit_value[previous].append(revenue)
    totals: Counter[object] = Counter()
    for (src, _), n in counts.items():
        totals[src] += n
    out_edges: dict[object, list[tuple[object, float]]] = defaultdict(list)
    for (src, dst), n in counts.items():
        out_edges[src].append((dst, n / totals[src]))
    mean_value = {s: sum(v) / len(v) for s, v in exit_value.items()}

    mass: dict[tuple[object, frozenset[str]], float] = {("start", frozenset()): 1.0}
    conv_by_visits: dict[frozenset[str], float] = defaultdict(float)
    value_by_visits: dict[frozenset[str], float] = defaultdict(float)
    for _ in range(10_000):
        nxt: dict[tuple[object, frozenset[str]], float] = defaultdict(float)
        for (state, visited), m in mass.items():
            for dst, p in out_edges[state]:
                if dst == "conv":
                    conv_by_visits[visited] += m * p
                    value_by_visits[visited] += m * p * mean_value[state]
                elif dst != "null":
                    assert isinstance(dst, tuple)
                    nxt[dst, visited | frozenset(dst)] += m * p
        mass = nxt
        if sum(mass.values()) < 1e-15:
            break
    channels = sorted({c for path, _, _ in paths for c in path})
    p_conv, v_conv = sum(conv_by_visits.values()), sum(value_by_visits.values())
    effects = {c: sum(m for v, m in conv_by_visits.items() if c in v) / p_conv for c in channels}
    values = {c: sum(m for v, m in value_by_visits.items() if c in v) / v_conv for c in channels}
    return effects, values


paths_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1, max_size=6),
        st.booleans(),
        st.floats(1, 100, allow_nan=False),
    ),
    min_size=1,
    max_size=25,
).filter(lambda ps: any(c for _, c, _ in ps))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paths=paths_strategy, order=st.integers(1, 4))
def test_exact_removal_effects_equal_path_mass_propagation(paths: list[Path], order: int) -> None:
    model = fit_markov(transition_counts(touches_frame(paths), order))
    effects, value_effects = reference_removal_effects(paths, order)
    assert model.order == order
    assert model.removal_effects == pytest.approx(effects, abs=1e-9)
    assert model.value_removal_effects == pytest.approx(value_effects, abs=1e-9)


def test_higher_order_states_are_windows_with_repeats_collapsed() -> None:
    paths: list[Path] = [
        (["a", "a", "b", "c"], True, 10.0),
        (["a"], False, 0.0),
        (["b", "b", "b"], True, 5.0),
    ]
    counts = transition_counts(touches_frame(paths), order=2)
    pairs = set(counts.transitions.select("src", "dst").iter_rows())
    assert pairs == {
        ("(start)", "a > a"),
        ("a > a", "a > b"),
        ("a > b", "b > c"),
        ("b > c", "(conversion)"),
        ("(start)", "a"),
        ("a", "(null)"),
        ("(start)", "b > b"),  # b b b: windows "b > b" twice, counted once
        ("b > b", "(conversion)"),
    }
    # order 2 tells apart what order 1 cannot: after (a, b) the path converts, after (b, b) too
    assert fit_markov(counts).removal_effects["c"] == pytest.approx(0.5)


def test_order_is_checked() -> None:
    with pytest.raises(ValueError, match="order must be 1 to 4"):
        transition_counts(touches_frame([(["a"], True, 1.0)]), order=5)


def test_attribute_with_a_second_order_chain_conserves_conversions() -> None:
    log = three_contacts()
    result = attribute(log.frame().lazy(), lookback_days=30, half_life_days=7, markov_order=2)
    assert result.markov.order == 2
    credited = result.credits.filter(pl.col("model") == "markov")
    assert credited["conversions"].sum() == pytest.approx(result.credited_conversions)
    assert credited["revenue"].sum() == pytest.approx(result.credited_revenue)


def test_shapley_by_hand() -> None:
    # sets: {email, ads, search} 1 of 1 converts (100); {email} 1 of 2 (50); {ads} 0 of 1
    result = attribute(three_contacts().frame().lazy(), lookback_days=30, half_life_days=7)
    phi = result.shapley.values
    assert phi == pytest.approx({"email": 1 / 3 + 1 / 2, "ads": 1 / 3, "search": 1 / 3})
    assert _credits(result.credits, "shapley") == pytest.approx(
        {"email": 2 * 5 / 9, "ads": 2 * 2 / 9, "search": 2 * 2 / 9}
    )
    # value rates: 100 / 1 and 50 / 2 -> email 100/3 + 25, ads and search 100/3 each (of 125)
    assert _credits(result.credits, "shapley", "revenue") == pytest.approx(
        {"email": 150 * (175 / 3) / 125, "ads": 150 * (100 / 3) / 125, "search": 150 * (100 / 3) / 125}
    )


def brute_force_shapley(sets: list[tuple[frozenset[int], float]], n: int) -> np.ndarray:
    """Shapley values by the definition: all 2^n coalitions, v(S) = sum of the rates of sets within S."""
    v = np.zeros(1 << n)
    for members, rate in sets:
        v[sum(1 << i for i in members)] += rate
    masks = np.arange(1 << n)
    for i in range(n):  # subset-sum (zeta) transform: v(S) = sum over T subset of S
        has = (masks >> i) & 1 == 1
        v[has] += v[masks[has] ^ (1 << i)]
    size = np.array([bin(m).count("1") for m in range(1 << n)])
    weight = np.array([math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)])
    phi = np.zeros(n)
    for i in range(n):
        without = masks[(masks >> i) & 1 == 0]
        phi[i] = float(np.sum(weight[size[without]] * (v[without | (1 << i)] - v[without])))
    return phi


def test_shapley_closed_form_equals_the_definition_at_16_channels() -> None:
    n = 16
    rng = np.random.default_rng(3)
    names = [f"ch{i:02d}" for i in range(n)]
    rows = []
    seen: set[frozenset[int]] = set()
    while len(rows) < 400:
        members = frozenset(int(i) for i in rng.choice(n, size=rng.integers(1, 6), replace=False))
        if members in seen:
            continue
        seen.add(members)
        journeys = int(rng.integers(1, 50))
        conversions = int(rng.integers(0, journeys + 1))
        rows.append((members, journeys, conversions, float(conversions * rng.uniform(5, 200))))
    table = pl.DataFrame(
        {
            "channels": [sorted(names[i] for i in m) for m, _, _, _ in rows],
            "journeys": [j for _, j, _, _ in rows],
            "conversions": [c for _, _, c, _ in rows],
            "value": [v for _, _, _, v in rows],
        }
    )
    model = fit_shapley(table)
    reference = brute_force_shapley([(m, c / j) for m, j, c, _ in rows], n)
    np.testing.assert_allclose([model.values[c] for c in names], reference, rtol=1e-10)
    value_reference = brute_force_shapley([(m, v / j) for m, j, _, v in rows], n)
    np.testing.assert_allclose([model.value_values[c] for c in names], value_reference, rtol=1e-10)
    assert sum(model.shares().values()) == pytest.approx(1.0)


def test_sixteen_channels_through_attribute_conserve_conversions_and_revenue() -> None:
    log = EventLog()
    rng = np.random.default_rng(5)
    channels = [f"ch{i:02d}" for i in range(16)]
    for contact in range(1, 301):
        start = at(D1, 0) + timedelta(hours=int(rng.integers(0, 48)))
        for k in range(int(rng.integers(1, 5))):
            log.add("click", contact, start + timedelta(hours=k), channel=str(rng.choice(channels)))
        if rng.random() < 0.4:
            log.add("convert", contact, start + timedelta(hours=6), revenue=float(rng.uniform(10, 90)))
    result = attribute(log.frame().lazy(), lookback_days=30, half_life_days=7)
    assert len(result.shapley.channels) == 16
    for model in ("shapley", "markov"):
        credited = result.credits.filter(pl.col("model") == model)
        assert credited["conversions"].sum() == pytest.approx(result.credited_conversions), model
        assert credited["revenue"].sum() == pytest.approx(result.credited_revenue), model


def _generated_path_table(rng: np.random.Generator) -> list[Path]:
    """Journeys over six channels in which some channels lead to conversion more than others."""
    channels = ["display", "email", "search", "social", "affiliate", "direct"]
    lift = {"display": 0.02, "email": 0.10, "search": 0.15, "social": 0.03, "affiliate": 0.06, "direct": 0.2}
    journeys: list[Path] = []
    for _ in range(6000):
        path = [
            str(c)
            for c in rng.choice(channels, size=int(rng.integers(1, 6)), p=[0.3, 0.2, 0.2, 0.15, 0.1, 0.05])
        ]
        p_convert = 1 - np.prod([1 - lift[c] for c in path])
        converted = bool(rng.random() < p_convert)
        journeys.append((path, converted, float(rng.uniform(20, 120)) if converted else 0.0))
    return journeys


@pytest.mark.parametrize("order", [1, 2])
def test_agrees_with_channel_attribution(order: int) -> None:
    """ChannelAttribution (bench extra) simulates what is solved here exactly: agreement to its noise."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        channel_attribution = pytest.importorskip("ChannelAttribution")
    import pandas as pd

    journeys = _generated_path_table(np.random.default_rng(11))
    table = (
        pd.DataFrame(
            {
                "path": [" > ".join(p) for p, _, _ in journeys],
                "conv": [int(c) for _, c, _ in journeys],
                "value": [v for _, _, v in journeys],
                "null": [int(not c) for _, c, _ in journeys],
            }
        )
        .groupby("path", as_index=False)
        .sum()
    )
    # one value per path and conversion, as ChannelAttribution models it (mean of the path's)
    per_path = dict(zip(table["path"], table["value"] / table["conv"].where(table["conv"] > 0), strict=True))
    journeys = [(p, c, per_path[" > ".join(p)] if c else 0.0) for p, c, _ in journeys]
    with contextlib.redirect_stdout(io.StringIO()):
        reference = channel_attribution.markov_model(
            table,
            "path",
            "conv",
            var_value="value",
            var_null="null",
            order=order,
            out_more=True,
            verbose=False,
            flg_pro=False,
            nsim_start=3e5,
            max_step=200,
        )
    theirs = reference["removal_effects"].set_index("channel_name")
    credits = reference["result"].set_index("channel_name")
    model = fit_markov(transition_counts(touches_frame(journeys), order))
    total, value = table["conv"].sum(), table["value"].sum()
    for channel in model.channels:
        assert model.removal_effects[channel] == pytest.approx(
            theirs.loc[channel, "removal_effects_conversion"], abs=0.015
        ), channel
        assert model.shares()[channel] * total == pytest.approx(
            credits.loc[channel, "total_conversions"], abs=0.02 * total
        ), channel
        assert model.shares(value=True)[channel] * value == pytest.approx(
            credits.loc[channel, "total_conversion_value"], abs=0.02 * value
        ), channel
