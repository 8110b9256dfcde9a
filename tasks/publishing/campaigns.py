"""The campaign library: create, schedule, pause, resume, cancel, publish, preview, status, metrics.

Status moves draft -> scheduled -> sending -> sent, with paused (resume goes back) and cancelled
(every row not yet handed over is skipped) on the side. Starting a campaign resolves its
audience and plans the ledger in the same transaction that sets it ``sending``; from then on
the ledger alone decides what is sent.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.models.publishing import Campaign
from aicmo.settings import PublishingSettings
from aicmo.storage.db import transaction
from aicmo.storage.lake import Lake
from aicmo.storage.publishing import (
    approved_assets,
    contact_id_by_email,
    counts,
    existing_contact_ids,
    get_campaign,
    plan,
    recipients,
    set_status,
    skip_reasons,
    skip_unsent,
    unknown_rows,
    upsert_campaign,
)
from aicmo.tasks.crm.emails import normalize_email
from aicmo.tasks.crm.segment_store import get_segment, segment_contact_ids
from aicmo.tasks.experiments.planning import assignment_key, plan_experiment
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.definition import (
    PER_CAMPAIGN_CHANNELS,
    CampaignDefinition,
    definition_of,
    to_columns,
)
from aicmo.tasks.publishing.eligibility import e164
from aicmo.tasks.publishing.links import LinkSigner
from aicmo.tasks.publishing.sender import ChannelFactory, RunReport, send_campaign
from aicmo.tasks.publishing.templates import SAMPLE, Rendered, check_templates, render_message


def create_campaign(engine: Engine, definition: CampaignDefinition) -> int:
    """Check a definition (templates, audience, assets) and store it as a draft; returns its id."""
    check_templates(definition)
    with transaction(engine) as session:
        if definition.audience.segment is not None:
            get_segment(session, definition.audience.segment)  # InputError naming the known ones
        variant_assets = (
            [v.asset for v in definition.experiment.variants if v.asset] if definition.experiment else []
        )
        if definition.assets or variant_assets:
            _, refused = approved_assets(session, [*definition.assets, *variant_assets])
            if refused:
                raise InputError(
                    f"assets: {', '.join(map(str, refused))} missing or not approved (only approved assets attach)"
                )
        return upsert_campaign(session, to_columns(definition)).id


_MOVES: dict[str, tuple[tuple[str, ...], str]] = {
    "schedule": (("draft", "paused"), "scheduled"),
    "pause": (("scheduled", "sending"), "paused"),
    "cancel": (("draft", "scheduled", "sending", "testing", "paused"), "cancelled"),
}


def _move(engine: Engine, name: str, action: str) -> Campaign:
    allowed, target = _MOVES[action]
    with transaction(engine) as session:
        campaign = get_campaign(session, name)
        if campaign.status not in allowed:
            raise InputError(f"campaign {name!r} is {campaign.status}; cannot {action} it")
        set_status(session, campaign.id, target)
        if action == "cancel":
            skip_unsent(session, campaign.id, "cancelled")
        return campaign


def schedule(engine: Engine, name: str, send_at: datetime | None = None) -> None:
    """Schedule a draft (or paused, never started) campaign, at ``send_at`` or its own time, or now."""
    if send_at is not None and send_at.tzinfo is None:
        raise InputError("--at needs a timezone (e.g. 2026-12-01T09:00:00Z)")
    campaign = _move(engine, name, "schedule")
    if send_at is not None:
        with transaction(engine) as session:
            get_campaign(session, name).send_at = send_at
    del campaign


def pause(engine: Engine, name: str) -> None:
    """Stop further claims: running senders stop within their poll interval."""
    _move(engine, name, "pause")


def cancel(engine: Engine, name: str) -> None:
    """Cancel: what was not yet handed to a channel is skipped (reason ``cancelled``)."""
    _move(engine, name, "cancel")


def resume(engine: Engine, name: str) -> None:
    """A paused campaign goes on: back to sending if it had started, else to scheduled."""
    with transaction(engine) as session:
        campaign = get_campaign(session, name)
        if campaign.status != "paused":
            raise InputError(f"campaign {name!r} is {campaign.status}; only a paused campaign resumes")
        started = bool(counts(session, campaign.id))
        set_status(session, campaign.id, "sending" if started else "scheduled")


def audience_ids(engine: Engine, definition: CampaignDefinition) -> list[int]:
    """The contact ids a campaign targets now."""
    if definition.audience.segment is not None:
        with transaction(engine) as session:
            segment = get_segment(session, definition.audience.segment)
        return segment_contact_ids(engine, segment)
    with transaction(engine) as session:
        return existing_contact_ids(session, definition.audience.contact_ids or [])


def start(
    engine: Engine, campaign_id: int, *, now: datetime | None = None, only: list[int] | None = None
) -> bool:
    """Plan the ledger and set the campaign sending, when it is due; True when it is sending.

    ``only`` restricts planning to those contacts (publish to one contact). Planning is
    idempotent: a campaign already sending gets only the rows it is missing.
    """
    now = now or utcnow()
    with transaction(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            raise InputError(f"no campaign with id {campaign_id}")
        if campaign.status == "sending":
            return True
        if campaign.status != "scheduled" or (campaign.send_at is not None and campaign.send_at > now):
            return False
        definition = definition_of(campaign)
    ids = only if only is not None else audience_ids(engine, definition)
    per_contact = [c for c in definition.channels if c not in PER_CAMPAIGN_CHANNELS]
    with transaction(engine) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None or campaign.status != "scheduled":
            return campaign is not None and campaign.status == "sending"
        if definition.experiment is not None:
            plan_experiment(
                session,
                campaign_id,
                definition.experiment,
                definition.experiment_channel,
                ids,
                per_contact,
                key=assignment_key(),
                now=now,
            )
        else:
            plan(session, campaign_id, ids, per_contact)
        social = [c for c in definition.channels if c in PER_CAMPAIGN_CHANNELS]
        if social:
            plan(session, campaign_id, [], social, per_campaign_channels=social)
        set_status(session, campaign_id, "sending")
    return True


def publish(
    engine: Engine,
    name: str,
    *,
    settings: PublishingSettings,
    channel_factory: ChannelFactory,
    links: LinkSigner,
    lake: Lake | None = None,
    contact_email: str | None = None,
    wait: bool = True,
) -> RunReport:
    """Send a campaign now: to its whole audience, or to one contact (``contact_email``).

    A draft is scheduled for now first. Publishing to one contact plans just that contact's
    rows; a later run for the audience does not send to them again.
    """
    with transaction(engine) as session:
        campaign = get_campaign(session, name)
        if campaign.status == "draft":
            set_status(session, campaign.id, "scheduled")
        only = None
        if contact_email is not None:
            cid = contact_id_by_email(session, normalize_email(contact_email))
            if cid is None:
                raise InputError(f"no contact with email {contact_email!r}")
            only = [cid]
        campaign_id = campaign.id
    if not start(engine, campaign_id, only=only):
        with transaction(engine) as session:
            status = get_campaign(session, name).status
        raise InputError(f"campaign {name!r} is {status}; nothing to send (schedule or resume it first)")
    return send_campaign(
        engine,
        campaign_id,
        settings=settings,
        channel_factory=channel_factory,
        links=links,
        lake=lake,
        wait=wait,
    )


def preview(engine: Engine, name: str, email: str | None = None) -> dict[str, Rendered]:
    """Each channel's message rendered for the contact with ``email`` (or a sample contact)."""
    with transaction(engine) as session:
        campaign = get_campaign(session, name)
        definition = definition_of(campaign)
        contact = SAMPLE
        if email is not None:
            cid = contact_id_by_email(session, normalize_email(email))
            if cid is None:
                raise InputError(f"no contact with email {email!r}")
            contact = recipients(session, [cid])[cid]
    return {channel: render_message(definition, channel, contact) for channel in definition.channels}


@dataclass
class CampaignStatus:
    """A campaign's status and its ledger counts."""

    name: str
    status: str
    reason: str | None
    ledger: dict[tuple[str, str], int] = field(default_factory=dict)
    skip_reasons: dict[str, int] = field(default_factory=dict)
    unknown: list[tuple[int, int | None, str, str | None]] = field(default_factory=list)


def status(engine: Engine, name: str) -> CampaignStatus:
    """Ledger counts by state and channel, skip/failure reasons and the rows left unknown."""
    with transaction(engine) as session:
        campaign = get_campaign(session, name)
        return CampaignStatus(
            campaign.name,
            campaign.status,
            campaign.status_reason,
            counts(session, campaign.id),
            skip_reasons(session, campaign.id),
            unknown_rows(session, campaign.id),
        )


def metrics(lake: Lake, campaign_id: int) -> pl.DataFrame:
    """Events of the campaign by channel and type (sends, skips, failures, and what tracking added)."""
    if not lake.partitions("events"):
        return pl.DataFrame(schema={"channel": pl.String, "type": pl.String, "events": pl.UInt32})
    return (
        lake.scan("events")
        .filter(pl.col("campaign_id") == campaign_id)
        .group_by("channel", "type")
        .agg(pl.len().alias("events"))
        .sort("channel", "type")
        .collect()
    )


def campaign_rows(engine: Engine) -> list[dict[str, Any]]:
    """The newest campaigns, for listing."""
    from aicmo.storage.publishing import list_campaigns

    with transaction(engine) as session:
        return [
            {
                "id": c.id,
                "name": c.name,
                "status": c.status,
                "channels": ",".join(c.channels or [c.channel]),
                "send_at": c.send_at,
                "created_at": c.created_at,
            }
            for c in list_campaigns(session)
        ]


async def _test_send(
    definition: CampaignDefinition,
    channel_name: str,
    contact: Any,
    to: str,
    channel_factory: ChannelFactory,
    links: LinkSigner,
) -> Verdict:
    rendered = render_message(definition, channel_name, contact)
    key = hashlib.sha256(f"test:{uuid.uuid4()}".encode()).hexdigest()
    envelope = Envelope(
        row_id=0,
        campaign_id=0,
        contact_id=contact.id or None,
        idempotency_key=key,
        address=to,
        message=Rendered(**{**rendered.__dict__, "subject": f"[TEST] {rendered.subject}"}),
        unsubscribe_url=links.unsubscribe_url(0, contact.id, channel_name),
    )
    channel = channel_factory(channel_name, definition)
    await channel.open()
    try:
        return (await channel.send([envelope]))[0]
    finally:
        await channel.close()


def test_send(
    engine: Engine, name: str, to: str, *, channel_factory: ChannelFactory, links: LinkSigner
) -> tuple[str, Verdict]:
    """Send one copy of the campaign's email (``to`` an address) or SMS (``to`` a number), outside the ledger.

    The message is rendered for the contact with that address when there is one, else for a
    sample contact; the subject is marked ``[TEST]``. Returns the channel used and its verdict.
    """
    with transaction(engine) as session:
        definition = definition_of(get_campaign(session, name))
        contact = SAMPLE
        if "@" in to:
            cid = contact_id_by_email(session, normalize_email(to))
            if cid is not None:
                contact = recipients(session, [cid])[cid]
    channel_name = "email" if "@" in to else "sms"
    if channel_name not in definition.channels:
        raise InputError(f"campaign {name!r} has no {channel_name} message to test-send to {to!r}")
    if channel_name == "sms":
        number = e164(to)
        if number is None:
            raise InputError(
                f"--to {to!r}: not an email address or a valid phone number (E.164, e.g. +14155550100)"
            )
        to = number
    verdict = asyncio.run(_test_send(definition, channel_name, contact, to, channel_factory, links))
    return channel_name, verdict
