"""The figures operators watch, sent to Prefect as events the UI shows and automations react to.

Each figure is an event ``aicmo.metric.<name>`` whose payload holds the value and its threshold
(``AICMO_ALERT_*``); a value over its threshold also emits ``aicmo.metric.<name>.over-threshold``,
which the alert automations (:mod:`aicmo.flows.alerts`) turn into a notification. Prefect's event
triggers match events and labels, not numbers, so the comparison is made here, where the value is
known. Two figures are about time rather than size and are judged by Prefect itself: enrichment
runs emit ``aicmo.enrichment.completed`` (an automation notices when none came for too long) and
analytics steps emit ``aicmo.analytics.step.started``/``finished`` pairs (one notices a start whose
finish is late).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prefect.events import emit_event
from prefect.runtime import flow_run

from aicmo.settings import get_settings

METRIC_PREFIX = "aicmo.metric."
OVER = ".over-threshold"
ENRICHMENT_COMPLETED = "aicmo.enrichment.completed"
STEP_STARTED = "aicmo.analytics.step.started"
STEP_FINISHED = "aicmo.analytics.step.finished"


def report_metric(
    name: str, value: float, threshold: float | None = None, details: Mapping[str, Any] | None = None
) -> bool:
    """Emit ``aicmo.metric.<name>`` and, when ``value`` exceeds ``threshold``, its over-threshold event."""
    resource = {"prefect.resource.id": f"aicmo.metric.{name}", "prefect.resource.name": name}
    payload = {"value": value, "threshold": threshold, **(details or {})}
    emit_event(METRIC_PREFIX + name, resource=resource, payload=payload)
    over = threshold is not None and value > threshold
    if over:
        emit_event(METRIC_PREFIX + name + OVER, resource=resource, payload=payload)
    return over


def report_enrichment(selected: int, complete: int, provider_rows: Iterable[Mapping[str, Any]]) -> None:
    """An enrichment run's success rate and the gateway's failover rate, and that a run completed."""
    rows = list(provider_rows)
    calls = sum(int(r["calls"]) for r in rows)
    failovers = sum(int(r["failovers"]) for r in rows)
    alerts = get_settings().alerts
    report_metric(
        "enrichment-success-rate", complete / selected if selected else 1.0, None, {"contacts": selected}
    )
    report_metric("gateway-failover-rate", failovers / calls if calls else 0.0, alerts.failover_rate,
                  {"calls": calls, "failovers": failovers})  # fmt: skip
    emit_event(
        ENRICHMENT_COMPLETED,
        resource={"prefect.resource.id": "aicmo.enrichment"},
        payload={"selected": selected, "complete": complete},
    )


def report_publishing(campaign: str, ledger: Iterable[Mapping[str, Any]]) -> None:
    """A campaign's delivery and error rates over its settled messages."""
    by_state: dict[str, int] = {}
    for row in ledger:
        by_state[row["state"]] = by_state.get(row["state"], 0) + int(row["rows"])
    errors = by_state.get("failed_permanent", 0) + by_state.get("unknown", 0)
    settled = by_state.get("sent", 0) + errors
    details = {"campaign": campaign, "sent": by_state.get("sent", 0), "errors": errors}
    report_metric(
        "publish-delivery-rate", by_state.get("sent", 0) / settled if settled else 1.0, None, details
    )
    report_metric("publish-error-rate", errors / settled if settled else 0.0,
                  get_settings().alerts.publish_error_rate, details)  # fmt: skip


def report_library_size(assets: int) -> None:
    """How many assets the media library holds."""
    report_metric("media-library-size", float(assets), float(get_settings().alerts.library_size))


@contextmanager
def analytics_step(step: str) -> Iterator[None]:
    """Bracket an analytics step with started/finished events and report its latency."""
    run = flow_run.get_id() or "local"
    resource = {"prefect.resource.id": f"aicmo.analytics-step.{run}.{step}", "prefect.resource.name": step}
    emit_event(STEP_STARTED, resource=resource)
    began = time.perf_counter()
    yield
    seconds = time.perf_counter() - began
    emit_event(STEP_FINISHED, resource=resource, payload={"seconds": seconds})
    report_metric(f"analytics-step-seconds.{step}", seconds, get_settings().alerts.analytics_step_budget_s)
