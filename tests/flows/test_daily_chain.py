"""The daily chain reports each step: a step without its configuration ends Skipped with its reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

from aicmo import wiring
from aicmo.settings import get_settings
from aicmo.storage.lake import Lake
from aicmo.storage.spool import Spool, SpoolOwnership
from aicmo.tasks.tracking.batch_flush import SERVICE_RUNNING, flush_spool
from aicmo.tasks.tracking.events import TrackedEvent

DAY = date(2026, 6, 10)


def _spool_events(folder: Path, n: int) -> None:
    """What a tracking service killed between two flushes leaves behind."""
    spool = Spool(folder)
    spool.append_many(
        [
            TrackedEvent(
                event_id=f"e{i}",
                ts=datetime(2026, 6, 10, 12, 0, i, tzinfo=UTC),
                type="open",
                channel="email",
                provider="pixel",
                campaign_id=1,
                contact_id=i,
                is_machine=False,
            ).to_bytes()
            for i in range(n)
        ]
    )
    spool.close()


def test_a_spool_owned_by_a_running_service_is_left_to_it(tmp_path: Path) -> None:
    _spool_events(tmp_path / "spool", 2)
    service = SpoolOwnership(tmp_path / "spool")
    try:
        busy = flush_spool(
            tmp_path / "spool", Lake(str(tmp_path / "lake")), None, scanner_window_s=2, segment_bytes=1 << 20
        )
    finally:
        service.release()
    assert busy == {"spool": "busy", "reason": SERVICE_RUNNING, "segments": 0, "written": 0}
    done = flush_spool(
        tmp_path / "spool", Lake(str(tmp_path / "lake")), None, scanner_window_s=2, segment_bytes=1 << 20
    )
    assert (done["spool"], done["written"]) == ("flushed", 2)


def test_skipped_steps_are_named_skipped_with_their_reason(prefect_harness: None, aicmo_home: Path) -> None:
    from prefect.client.orchestration import get_client

    from aicmo.flows.daily import SUMMARY_KEY, daily_pipeline

    wiring.engine()
    _spool_events(get_settings().spool_dir, 3)
    result = daily_pipeline(run_date=DAY, steps=["tracking", "revenue", "media", "ads"])

    states = {row["step"]: (row["state"], row["why"]) for row in result["steps"]}
    assert states["tracking"][0] == "Completed"
    assert result["tracking"]["spool"]["written"] == 3  # the spool's events are in the lake now
    assert wiring.lake().partitions("events") == [DAY]
    assert states["revenue"] == ("Skipped", states["revenue"][1])
    assert "AICMO_STRIPE_API_KEY" in states["revenue"][1]
    assert states["media"][0] == states["ads"][0] == "Skipped"
    assert "media library is empty" in states["media"][1]

    async def read() -> tuple[dict[str, str | None], str]:
        async with get_client() as client:
            names = {
                step: (await client.read_flow_run(UUID(run_id))).state_name
                for step, run_id in result["step_runs"].items()
            }
            summary = await client.read_latest_artifacts()
        markdown = next(a for a in summary if a.key == SUMMARY_KEY).data
        return names, str(markdown)

    names, markdown = asyncio.run(read())
    # the Prefect runs themselves carry the state the UI shows
    assert names == {"tracking": "Completed", "revenue": "Skipped", "media": "Skipped", "ads": "Skipped"}
    assert "| revenue | **Skipped** |" in markdown and "3 events" in markdown
    assert "1 done, 3 skipped, 0 failed." in markdown
