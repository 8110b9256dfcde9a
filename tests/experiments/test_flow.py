"""The experiments flow: decides a ready test and publishes its table and markdown (with the plot) artifacts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from prefect.client.orchestration import get_client

from aicmo import wiring
from aicmo.fakes.smtp_server import LocalSmtpServer
from aicmo.models.base import utcnow
from aicmo.storage.db import transaction
from aicmo.storage.experiments import ledger_variants
from aicmo.tasks.publishing.campaigns import status
from tests.experiments.helpers import ab_definition, write_clicks
from tests.publishing.helpers import add_contacts, run, started


def test_flow_decides_and_publishes_the_report_artifacts(
    aicmo_home: Path, prefect_harness: None, smtp: LocalSmtpServer
) -> None:
    from aicmo.flows.experiments import experiments

    engine, lake = wiring.engine(), wiring.lake()
    ids = add_contacts(engine, 300)
    campaign_id = started(engine, ab_definition("flow-ab", ids))
    asyncio.run(run(engine, campaign_id, smtp.settings(rate_limit_per_s=20_000), lake))
    with transaction(engine) as session:
        b = sorted(c for c, v in ledger_variants(session, campaign_id, "email").items() if v == 1)
    write_clicks(lake, campaign_id, b[:60], utcnow(), machine=False)

    with transaction(engine) as session:
        held = [c for c, v in ledger_variants(session, campaign_id, "email").items() if v is None]
    result = experiments()
    [looked] = result["looked"]
    assert looked["campaign"] == "flow-ab" and looked["decided"]
    assert looked["rest_planned"] == 300 - 230 - len(held)
    assert looked["decision"].startswith("B beats A")
    assert status(engine, "flow-ab").status == "sending"
    with get_client(sync_client=True) as client:
        artifacts = {a.key: a for a in client.read_artifacts(limit=200)}
    assert "experiment-flow-ab" in artifacts
    report = artifacts["experiment-flow-ab-report"]
    assert "data:image/png;base64," in str(report.data) and "B beats A" in str(report.data)
