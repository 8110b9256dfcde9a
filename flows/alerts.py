"""The alert automations the project declares, created (or replaced) in Prefect by ``make deploy``.

One automation per alert a team sets, each named ``aicmo: ...`` so a rerun replaces its own and
leaves others alone:

- gateway failover rate, publishing error rate and media library size over their thresholds react
  to the ``...over-threshold`` events :mod:`aicmo.flows.monitoring` emits;
- enrichment stalled is proactive: no ``aicmo.enrichment.completed`` for ``enrichment_stalled_hours``;
- an analytics step past its time budget is proactive per step run: a ``started`` without its
  ``finished`` within ``analytics_step_budget_s``.

Every automation calls the webhook of ``AICMO_ALERT_WEBHOOK_URL`` (stored as a Prefect Webhook block
``aicmo-alerts``) when set; without it an alert is still recorded and shown in the UI's event feed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from prefect.automations import Automation
from prefect.blocks.webhook import Webhook
from prefect.client.orchestration import get_client
from prefect.events.actions import CallWebhook, DoNothing
from prefect.events.schemas.automations import EventTrigger, Posture

from aicmo.flows.monitoring import ENRICHMENT_COMPLETED, METRIC_PREFIX, OVER, STEP_FINISHED, STEP_STARTED
from aicmo.settings import AlertSettings, get_settings

NAME_PREFIX = "aicmo: "
WEBHOOK_BLOCK = "aicmo-alerts"
THRESHOLD_METRICS = {
    "gateway failover rate over threshold": "gateway-failover-rate",
    "publishing error rate over threshold": "publish-error-rate",
    "media library over its size": "media-library-size",
}


def _threshold(metric: str) -> EventTrigger:
    return EventTrigger(
        expect={METRIC_PREFIX + metric + OVER},
        match={"prefect.resource.id": f"aicmo.metric.{metric}"},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
    )


def declared(alerts: AlertSettings) -> dict[str, EventTrigger]:
    """Each alert's name and trigger, per the settings."""
    triggers = {NAME_PREFIX + title: _threshold(metric) for title, metric in THRESHOLD_METRICS.items()}
    triggers[NAME_PREFIX + "enrichment stalled"] = EventTrigger(
        expect={ENRICHMENT_COMPLETED},
        match={"prefect.resource.id": "aicmo.enrichment"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(hours=alerts.enrichment_stalled_hours),
    )
    triggers[NAME_PREFIX + "analytics step past its time budget"] = EventTrigger(
        after={STEP_STARTED},
        expect={STEP_FINISHED},
        match={"prefect.resource.id": "aicmo.analytics-step.*"},
        for_each={"prefect.resource.id"},
        posture=Posture.Proactive,
        threshold=1,
        within=timedelta(seconds=alerts.analytics_step_budget_s),
    )
    return triggers


def _actions(alerts: AlertSettings) -> list[Any]:
    if alerts.webhook_url is None:
        return [DoNothing()]
    block = Webhook(url=alerts.webhook_url, method="POST", allow_private_urls=True)
    block_id = block.save(WEBHOOK_BLOCK, overwrite=True)
    # Proactive alerts (something did not happen) have no triggering event to quote.
    payload = (
        '{"alert": "{{ automation.name }}", "event": "{% if event %}{{ event.event }}{% endif %}", '
        '"payload": {% if event %}{{ event.payload | tojson }}{% else %}{}{% endif %}}'
    )
    return [CallWebhook(block_document_id=block_id, payload=payload)]


def sync_automations(alerts: AlertSettings | None = None) -> list[str]:
    """Create the declared automations, replacing the ones an earlier run made; returns their names."""
    alerts = alerts or get_settings().alerts
    actions = _actions(alerts)
    with get_client(sync_client=True) as client:
        for existing in client.read_automations():
            if existing.name.startswith(NAME_PREFIX):
                client.delete_automation(existing.id)
    names = []
    for name, trigger in declared(alerts).items():
        Automation(name=name, trigger=trigger, actions=actions, description=_describe(name, alerts)).create()
        names.append(name)
    return names


def _describe(name: str, alerts: AlertSettings) -> str:
    return {
        NAME_PREFIX + "gateway failover rate over threshold": f"failover rate > {alerts.failover_rate:.0%}",
        NAME_PREFIX + "publishing error rate over threshold": f"error rate > {alerts.publish_error_rate:.0%}",
        NAME_PREFIX + "media library over its size": f"more than {alerts.library_size:,} assets",
        NAME_PREFIX
        + "enrichment stalled": f"no completed enrichment in {alerts.enrichment_stalled_hours:g} h",
        NAME_PREFIX
        + "analytics step past its time budget": f"a step over {alerts.analytics_step_budget_s:g} s",
    }[name]
