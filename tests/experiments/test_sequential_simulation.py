"""The decision rule over simulated experiments with known true rates, looked at every hour.

Each simulated test sends its sample over the first 6 hours; a contact who will click does so
after an exponential delay (mean 6 h); the rule (``decide.look``, the one production runs) looks
every hour up to the 72 h deadline. Stated figures (seeds 16001 and 16002, 1,000 tests each,
baseline 10%, minimum detectable effect 3 points, alpha 5%, planned power 80% -> 3,433 sends per
variant):

- no true difference: a false winner in 1.5% of tests (bound: alpha = 5%);
- a true difference of 3 points: the better variant wins in 87.3% of tests (plan: >= 80%,
  a lower bound because the plan counts only the last look);
- three variants, no true difference (seed 16003, 400 tests, 3,867 sends each, alpha shared as
  2.5% per comparison): 0.25% of tests declare anything.
"""

from __future__ import annotations

import numpy as np

from aicmo.tasks.experiments.decide import look
from aicmo.tasks.experiments.stats import Arm, sample_size

HOURS = 72
BASELINE, MDE, ALPHA, POWER = 0.10, 0.03, 0.05, 0.80
RUNS = 1_000


def _cumulative(rng: np.random.Generator, runs: int, n: int, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Per run and hour: sends so far, and clicks so far (clicks follow their send)."""
    sent_at = rng.uniform(0, 6, (runs, n))
    clicks = rng.random((runs, n)) < rate
    clicked_at = np.where(clicks, sent_at + rng.exponential(6.0, (runs, n)), np.inf)
    offsets = (np.arange(runs) * (HOURS + 2))[:, None]

    def per_hour(times: np.ndarray) -> np.ndarray:
        hour = np.minimum(np.ceil(times), HOURS + 1).astype(np.int64)
        counts = np.bincount((hour + offsets).ravel(), minlength=runs * (HOURS + 2))
        return counts.reshape(runs, HOURS + 2).cumsum(axis=1)

    return per_hour(sent_at), per_hour(clicked_at)


def _by_rule(sa: np.ndarray, ha: np.ndarray, sb: np.ndarray, hb: np.ndarray, runs: int) -> list[int | None]:
    """The production rule, looked at every hour, one call per look (slow: used on a subset)."""
    winners: list[int | None] = []
    for r in range(runs):
        min_p, winner = [1.0], None
        for h in range(1, HOURS + 1):
            arms = [
                Arm(int(sa[r, h]), float(ha[r, h]), float(ha[r, h])),
                Arm(int(sb[r, h]), float(hb[r, h]), float(hb[r, h])),
            ]
            result = look(arms, min_p, names=["A", "B"], tau=MDE, alpha=ALPHA, default=0, past_deadline=False)
            min_p, winner = result.min_p, result.winner
            if winner is not None:
                break
        winners.append(winner)  # None: no difference by the deadline, the default goes out
    return winners


def _vectorized(sa: np.ndarray, ha: np.ndarray, sb: np.ndarray, hb: np.ndarray) -> list[int | None]:
    """The same rule over every run and hour at once (``stats`` formulas in NumPy)."""
    sa, ha, sb, hb = (x[:, 1 : HOURS + 1].astype(float) for x in (sa, ha, sb, hb))
    with np.errstate(divide="ignore", invalid="ignore"):
        d = hb / sb - ha / sa
        n = sa + sb
        mean = (ha + hb) / n
        var = np.maximum(0.0, mean - mean * mean) * n / (n - 1) * (1 / sa + 1 / sb)
        tau2 = MDE * MDE
        log_ratio = np.where(
            var > 0, 0.5 * np.log(var / (var + tau2)) + tau2 * d * d / (2 * var * (var + tau2)), 0.0
        )
    crossed = log_ratio >= np.log(1 / ALPHA)
    first = np.where(crossed.any(axis=1), crossed.argmax(axis=1), -1)
    return [None if f < 0 else (1 if d[r, f] > 0 else 0) for r, f in enumerate(first)]


def _winners(seed: int, rate_b: float, n: int) -> list[int | None]:
    rng = np.random.default_rng(seed)
    sends_a, hits_a = _cumulative(rng, RUNS, n, BASELINE)
    sends_b, hits_b = _cumulative(rng, RUNS, n, rate_b)
    fast = _vectorized(sends_a, hits_a, sends_b, hits_b)
    checked = 60
    assert _by_rule(sends_a, hits_a, sends_b, hits_b, checked) == fast[:checked]
    return fast


def test_false_winners_stay_below_alpha_while_peeking_hourly_and_power_meets_the_plan() -> None:
    plan = sample_size(baseline=BASELINE, mde=MDE, alpha=ALPHA, power=POWER, variants=2)
    assert plan.per_variant == 3_433 and abs(plan.planned_power - POWER) < 0.001

    null = _winners(16001, BASELINE, plan.per_variant)
    false_winners = sum(1 for w in null if w is not None) / RUNS
    assert false_winners <= ALPHA
    assert false_winners == 0.015

    effect = _winners(16002, BASELINE + MDE, plan.per_variant)
    power = sum(1 for w in effect if w == 1) / RUNS
    assert sum(1 for w in effect if w == 0) == 0  # the worse variant never wins
    assert POWER - 0.03 <= power <= POWER + 0.12
    assert power == 0.873


def _three_arm_decisions(seed: int, runs: int, n: int) -> list[int | None]:
    """A/B/C under no difference: the vectorised rule, checked against ``look`` on the first 20 runs."""
    rng = np.random.default_rng(seed)
    cum = [_cumulative(rng, runs, n, BASELINE) for _ in range(3)]
    per = ALPHA / 2
    sends = [c[0][:, 1 : HOURS + 1].astype(float) for c in cum]
    hits = [c[1][:, 1 : HOURS + 1].astype(float) for c in cum]
    means = [h / s for h, s in zip(hits, sends, strict=True)]
    ever, better = [], []
    for i in (1, 2):
        total = sends[0] + sends[i]
        pooled = (hits[0] + hits[i]) / total
        var = pooled * (1 - pooled) * total / (total - 1) * (1 / sends[0] + 1 / sends[i])
        d = means[i] - means[0]
        tau2 = MDE * MDE
        with np.errstate(divide="ignore", invalid="ignore"):
            log_ratio = np.where(
                var > 0, 0.5 * np.log(var / (var + tau2)) + tau2 * d * d / (2 * var * (var + tau2)), 0.0
            )
        crossed = np.maximum.accumulate(log_ratio >= np.log(1 / per), axis=1)
        ever.append(crossed)
        better.append(crossed & (d > 0))
    decided = better[0] | better[1] | (ever[0] & ever[1])
    out: list[int | None] = []
    for r in range(runs):
        if not decided[r].any():
            out.append(None)
            continue
        h = int(decided[r].argmax())
        winners = [i for i in (1, 2) if better[i - 1][r, h]]
        out.append(max(winners, key=lambda i: means[i][r, h]) if winners else 0)
    for r in range(20):
        min_p, winner = [1.0, 1.0], None
        for h in range(1, HOURS + 1):
            arms = [Arm(int(c[0][r, h]), float(c[1][r, h]), float(c[1][r, h])) for c in cum]
            result = look(
                arms, min_p, names=["A", "B", "C"], tau=MDE, alpha=ALPHA, default=0, past_deadline=False
            )
            min_p, winner = result.min_p, result.winner
            if winner is not None:
                break
        assert winner == out[r], r
    return out


def test_three_variants_share_alpha_so_false_winners_stay_below_it() -> None:
    """A/B/C with no true difference, seed 16003, 400 tests, hourly looks: 0.25% decide anything (alpha 5%)."""
    plan = sample_size(baseline=BASELINE, mde=MDE, alpha=ALPHA, power=POWER, variants=3)
    assert plan.per_variant == 3_867 and plan.alpha_per_comparison == ALPHA / 2
    decisions = _three_arm_decisions(16003, 400, plan.per_variant)
    false_calls = sum(1 for w in decisions if w is not None) / 400
    assert false_calls <= ALPHA
    assert false_calls == 0.0025
