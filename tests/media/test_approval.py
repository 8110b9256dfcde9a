"""Approval: the workflow's moves, the audit log, and publishing refusing anything not approved."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.settings import MediaSettings
from aicmo.storage.campaigns import upsert_campaigns
from aicmo.storage.db import transaction
from aicmo.storage.media import get_asset, reviews, usage
from aicmo.tasks.media.approval import NotAttachableError, attach, ensure_attachable, transition
from aicmo.tasks.media.ingest import ingest_bytes
from tests.media.images import encode, photo


def _asset(engine: Engine, media: MediaSettings, seed: int) -> int:
    return ingest_bytes(
        engine, encode(photo(seed, (40, 30))), f"{seed}.png", f"test:{seed}", media=media
    ).added[0]


def test_workflow_with_audit_log(engine: Engine, media: MediaSettings) -> None:
    asset_id = _asset(engine, media, 1)
    transition(engine, asset_id, "submit", "ana")
    with pytest.raises(InputError, match="comment saying why is required"):
        transition(engine, asset_id, "reject", "bo")
    transition(engine, asset_id, "reject", "bo", "logo too small")
    transition(engine, asset_id, "submit", "ana", "bigger logo")
    transition(engine, asset_id, "approve", "bo")
    with pytest.raises(InputError, match=r"cannot approve asset .* it is approved"):
        transition(engine, asset_id, "approve", "bo")
    transition(engine, asset_id, "archive", "cy")
    with transaction(engine) as session:
        log = reviews(session, asset_id)
        asset = get_asset(session, asset_id)
        assert asset is not None and asset.status == "archived"
    assert [(r.actor, r.action, r.from_status, r.to_status) for r in log] == [
        ("ana", "submit", "draft", "in_review"),
        ("bo", "reject", "in_review", "rejected"),
        ("ana", "submit", "rejected", "in_review"),
        ("bo", "approve", "in_review", "approved"),
        ("cy", "archive", "approved", "archived"),
    ]
    assert log[1].comment == "logo too small"
    assert all(a.at <= b.at for a, b in itertools.pairwise(log)) and log[0].at.tzinfo is not None


def test_publishing_refuses_assets_that_are_not_approved(engine: Engine, media: MediaSettings) -> None:
    approved, draft, rejected = (_asset(engine, media, s) for s in (2, 3, 4))
    for action in ("submit", "approve"):
        transition(engine, approved, action, "ana")
    transition(engine, rejected, "submit", "ana")
    transition(engine, rejected, "reject", "bo", "off brand")
    ensure_attachable(engine, [approved])
    with pytest.raises(NotAttachableError) as caught:
        ensure_attachable(engine, [approved, draft, rejected, 999_999])
    message = str(caught.value)
    assert f"{draft} is draft" in message and f"{rejected} is rejected" in message
    assert "999999 does not exist" in message and f"{approved} is" not in message
    with transaction(engine) as session:
        campaign = upsert_campaigns(session, [{"name": "spring", "channel": "email"}])["spring"]
        with pytest.raises(NotAttachableError):
            ensure_attachable(session, [draft])  # inside the publishing transaction
    attach(engine, approved, campaign, "email")
    with pytest.raises(NotAttachableError):
        attach(engine, draft, campaign, "email")
    with transaction(engine) as session:
        assert [(u["asset_id"], u["campaign"], u["channel"]) for u in usage(session)] == [
            (approved, "spring", "email")
        ]
