"""Deterministic sample data: contacts, campaigns, events, ad spend, orders and creatives.

The demo, the tests and the benchmarks all generate their data here, with a ground truth
(:class:`GroundTruth`) of what was simulated so analytics can be checked against it.
"""

from aicmo.tasks.sample.dataset import ProgressFn, generate_dataset
from aicmo.tasks.sample.params import BgNbdParams, DatasetSummary, GammaGammaParams, GroundTruth
from aicmo.tasks.sample.purchases import expected_repeat_purchases, simulate_bgnbd_orders

__all__ = [
    "BgNbdParams",
    "DatasetSummary",
    "GammaGammaParams",
    "GroundTruth",
    "ProgressFn",
    "expected_repeat_purchases",
    "generate_dataset",
    "simulate_bgnbd_orders",
]
