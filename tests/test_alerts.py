"""The declared alert automations fire on a real Prefect server and call the team's webhook."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from prefect.events import emit_event

from aicmo.fakes.http_app import BackgroundApp
from aicmo.settings import AlertSettings


class AlertInbox(BackgroundApp):
    """A chat-style webhook that keeps every alert posted to ``/alerts``."""

    def __init__(self) -> None:
        super().__init__()
        self.alerts: list[dict[str, Any]] = []
        self._seen = threading.Lock()

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/alerts", self._post)

    async def _post(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        with self._seen:
            self.alerts.append(body)
        return web.Response(status=204)

    def names(self) -> set[str]:
        with self._seen:
            return {a["alert"] for a in self.alerts}


def _wait_for(inbox: AlertInbox, names: set[str], timeout_s: float) -> set[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and not names <= inbox.names():
        time.sleep(0.5)
    return inbox.names()


@pytest.mark.slow
def test_each_declared_alert_fires_and_quiet_figures_do_not(aicmo_home: Path, prefect_harness: None) -> None:
    from aicmo.flows.alerts import NAME_PREFIX, declared, sync_automations
    from aicmo.flows.monitoring import STEP_STARTED, report_enrichment, report_metric

    with AlertInbox() as inbox:
        alerts = AlertSettings(
            webhook_url=f"{inbox.base_url}/alerts",
            failover_rate=0.2,
            enrichment_stalled_hours=10 / 3600,  # Prefect's shortest proactive window, 10 s
            publish_error_rate=0.05,
            analytics_step_budget_s=10,
            library_size=3,
        )
        created = sync_automations(alerts)
        assert set(created) == set(declared(alerts)) and len(created) == 5
        assert set(sync_automations(alerts)) == set(created)  # a rerun replaces, never duplicates

        # Under their thresholds: no alert.
        report_metric("gateway-failover-rate", 0.1, alerts.failover_rate)
        report_metric("publish-error-rate", 0.01, alerts.publish_error_rate)
        # Over them: one alert each.
        report_enrichment(10, 9, [{"calls": 10, "failovers": 5}])  # failover rate 0.5
        report_metric("publish-error-rate", 0.5, alerts.publish_error_rate, {"campaign": "spring"})
        report_metric("media-library-size", 4, alerts.library_size)
        # A step that starts and never finishes, and no enrichment completing after the one above.
        emit_event(STEP_STARTED, resource={"prefect.resource.id": "aicmo.analytics-step.test.aggregate"})

        expected = {NAME_PREFIX + n for n in ("gateway failover rate over threshold",
                                               "publishing error rate over threshold",
                                               "media library over its size",
                                               "analytics step past its time budget",
                                               "enrichment stalled")}  # fmt: skip
        fired = _wait_for(inbox, expected, timeout_s=90)
        assert fired >= expected, sorted(expected - fired)
        by_name = {a["alert"]: a for a in inbox.alerts}
        failover = by_name[NAME_PREFIX + "gateway failover rate over threshold"]
        assert failover["payload"]["value"] == pytest.approx(0.5) and failover["payload"]["threshold"] == 0.2
        quiet = [a for a in inbox.alerts if a["payload"].get("value") in (0.1, 0.01)]
        assert quiet == []
