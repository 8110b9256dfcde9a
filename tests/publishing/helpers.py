"""Builders shared by the publishing tests: consenting contacts, campaign definitions, a sender."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy import Engine

from aicmo.models.base import utcnow
from aicmo.models.crm import Consent
from aicmo.settings import PublishingSettings, TrackingSettings
from aicmo.storage.crm import contact_ids_by_email, upsert_contacts
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.upsert import bulk_upsert
from aicmo.tasks.publishing.campaigns import create_campaign, schedule, start
from aicmo.tasks.publishing.channels.registry import channel_factory
from aicmo.tasks.publishing.definition import parse_definition
from aicmo.tasks.publishing.sender import CampaignSender, RunReport
from aicmo.tasks.tracking.tokens import TokenError, TokenSigner, TrackingLinks

LINK_KEY = "test-key-0123456789abcdef"
LINKS = TrackingLinks(TrackingSettings(base_url="https://t.example.com", keys=[SecretStr(LINK_KEY)]))


def link_fields(url: str) -> dict[str, str] | None:
    """What a tracking URL made by ``LINKS`` carries (u: target URL, k: contact id), None if forged."""
    token = url.rsplit("/", 1)[-1].removesuffix(".gif")
    try:
        verified = TokenSigner([LINK_KEY]).verify(token)
    except TokenError:
        return None
    return {
        "kind": verified.kind,
        "c": str(verified.campaign_id),
        "k": str(verified.contact_id),
        "u": verified.url or "",
    }


def add_contacts(
    engine: Engine, n: int, *, consent: tuple[str, ...] = ("email",), prefix: str = "p", **fields: Any
) -> list[int]:
    """``n`` contacts ``{prefix}{i}@example.com`` (first names 'Ann0'...) with confirmed consent on ``consent``."""
    rows = [
        {
            "email": f"{prefix}{i}@example.com",
            "first_name": f"Ann{i}",
            "phone": fields.get("phone", f"+1415555{i:04d}"),
            "country": "US",
            "tags": [],
        }
        for i in range(n)
    ]
    with transaction(engine) as session:
        upsert_contacts(session, rows)
        ids = contact_ids_by_email(session, [r["email"] for r in rows])
        now = utcnow()
        consents = [
            {
                "contact_id": cid,
                "channel": ch,
                "status": "confirmed",
                "source": "test",
                "confirmed_at": now,
                "updated_at": now,
            }
            for cid in ids.values()
            for ch in consent
        ]
        bulk_upsert(session, Consent.__table__, consents, ("contact_id", "channel"), ["status"])
    return [ids[r["email"]] for r in rows]


def email_definition(name: str, contact_ids: list[int], **overrides: Any) -> Any:
    """An email campaign to ``contact_ids``."""
    data: dict[str, Any] = {
        "name": name,
        "channels": ["email"],
        "audience": {"contact_ids": contact_ids},
        "messages": {
            "email": {
                "subject": "Hello {{ contact.first_name }}",
                "text": "Hi {{ contact.first_name }}, see https://shop.example.com/sale?x=1.",
                "html": '<p>Hi {{ contact.first_name }}</p><a href="https://shop.example.com/sale">Sale</a>',
            }
        },
        "utm": {"source": "newsletter", "campaign": "spring"},
    }
    data.update(overrides)
    return parse_definition(data)


def started(engine: Engine, definition: Any) -> int:
    """Create, schedule and start a campaign; returns its id."""
    campaign_id = create_campaign(engine, definition)
    schedule(engine, definition.name)
    assert start(engine, campaign_id)
    return campaign_id


def sender(
    engine: Engine, campaign_id: int, settings: PublishingSettings, lake: Lake | None = None, **kw: Any
) -> CampaignSender:
    """A sender for the campaign with the real channel adapters."""
    return CampaignSender(
        engine,
        campaign_id,
        settings=settings,
        channel_factory=channel_factory(settings, tracking_base_url="https://t.example.com"),
        links=LINKS,
        lake=lake,
        **kw,
    )


async def run(
    engine: Engine, campaign_id: int, settings: PublishingSettings, lake: Lake | None = None, **kw: Any
) -> RunReport:
    """One sender run to completion."""
    return await sender(engine, campaign_id, settings, lake, **kw).run()
