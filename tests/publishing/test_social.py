"""Social posts with media against the local Mastodon-compatible fake: uploads, then one status.

The channel uploads each approved asset (``POST /api/v2/media``), then posts the status with
their ``media_ids[]`` and the ledger row's ``Idempotency-Key`` (``POST /api/v1/statuses``). A
dropped answer is retried with the same key, which the API honours, so the post appears once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.fakes.channels import LocalChannels
from aicmo.settings import MediaSettings
from aicmo.storage.publishing import idempotency_key
from aicmo.tasks.media.approval import transition
from aicmo.tasks.media.ingest import ingest_bytes
from aicmo.tasks.publishing.campaigns import create_campaign, status
from aicmo.tasks.publishing.definition import parse_definition
from tests.media.images import encode, photo
from tests.publishing.helpers import run, started


def _asset(engine: Engine, media: MediaSettings, seed: int, *, approve: bool) -> tuple[int, bytes]:
    data = encode(photo(seed, (48, 32)))
    asset_id = ingest_bytes(engine, data, f"spring-{seed}.png", f"test:{seed}", media=media).added[0]
    if approve:
        transition(engine, asset_id, "submit", "ana")
        transition(engine, asset_id, "approve", "bo")
    return asset_id, data


def _social(name: str, assets: list[int]) -> Any:
    return parse_definition(
        {
            "name": name,
            "channels": ["social"],
            "audience": {"contact_ids": [1]},
            "assets": assets,
            "messages": {"social": {"text": "Spring is here https://shop.example.com/spring"}},
        }
    )


async def test_media_uploaded_then_one_status_with_them_despite_lost_answers(
    engine: Engine, local: LocalChannels, tmp_path: Path
) -> None:
    media = MediaSettings(store_url=str(tmp_path / "media"), workers=1)
    kept, kept_bytes = _asset(engine, media, 1, approve=True)
    withdrawn, withdrawn_bytes = _asset(engine, media, 2, approve=True)
    draft, _ = _asset(engine, media, 3, approve=False)

    with pytest.raises(InputError, match=f"assets: {draft} missing or not approved"):
        create_campaign(engine, _social("draft-art", [kept, draft]))
    campaign_id = started(engine, _social("spring", [kept, withdrawn]))
    transition(engine, withdrawn, "archive", "cy")  # approval withdrawn after the campaign was made

    local.mastodon.faults.add("media", kind="drop")  # the first upload's connection drops
    local.mastodon.faults.add("statuses", kind="drop")  # the status is created, its answer lost
    report = await run(engine, campaign_id, local.settings(retry_backoff_s=0.05))

    assert report.finished and report.sent == 1 and not report.unknown
    mastodon = local.mastodon
    assert len(mastodon.statuses) == 1
    status_post = mastodon.statuses[0]
    attached = [m["id"] for m in status_post["media_attachments"]]
    assert [mastodon.uploads[m] for m in attached] == [kept_bytes]  # only the approved asset
    assert withdrawn_bytes not in mastodon.uploads.values()
    assert "utm_medium=social" in status_post["content"]
    key = idempotency_key(campaign_id, None, "social")
    assert mastodon.status_keys == [key, key]  # the lost answer was retried with the same key
    assert status(engine, "spring").ledger == {("sent", "social"): 1}


async def test_a_refused_upload_posts_nothing(engine: Engine, local: LocalChannels, tmp_path: Path) -> None:
    media = MediaSettings(store_url=str(tmp_path / "media"), workers=1)
    asset, _ = _asset(engine, media, 4, approve=True)
    campaign_id = started(engine, _social("too-big", [asset]))
    local.mastodon.faults.add("media", status=422)  # e.g. a file the instance does not take

    report = await run(engine, campaign_id, local.settings())

    assert report.finished and report.sent == 0
    assert local.mastodon.statuses == [] and local.mastodon.status_keys == []
    assert status(engine, "too-big").ledger == {("failed_permanent", "social"): 1}
