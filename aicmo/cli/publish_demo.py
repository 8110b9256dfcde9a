"""The demo's publishing step: one campaign over email, SMS, mobile push and webhooks, to local fakes.

Starts a local SMTP server and the Twilio, FCM and webhook fakes, gives the first contacts
confirmed consent (double opt-in, confirmed) and a device token, creates a campaign, runs the
publish flow on it, and returns the ledger counts. One device token is uninstalled on purpose,
so the summary shows a dropped token beside the sends.

The tracking step then runs ``aicmo serve``'s app on 127.0.0.1 and plays the recipients of the
campaign's email opening, clicking and unsubscribing through it (some opens from Apple's proxy, some
clicks from a link scanner), so the next aggregation shows raw and human opens and clicks.
"""

from __future__ import annotations

from typing import Any

from aicmo.fakes.channels import LocalChannels
from aicmo.settings import get_settings
from aicmo.storage.db import transaction
from aicmo.storage.publishing import add_push_endpoint, first_contact_ids, get_campaign, sent_contact_ids
from aicmo.tasks.crm.consent import confirm, request_opt_in
from aicmo.tasks.publishing.campaigns import create_campaign, schedule, status
from aicmo.tasks.publishing.definition import parse_definition
from aicmo.wiring import engine, lake, settings_overrides

CAMPAIGN = "demo-winter-launch"


def publish_demo(audience: int = 300) -> dict[str, Any]:
    """Publish the demo campaign; returns its ledger counts (state x channel) and what each fake received."""
    from aicmo.flows.publish import publish_campaigns

    eng = engine()
    with LocalChannels() as local, settings_overrides(local.env()):
        with transaction(eng) as session:
            ids = first_contact_ids(session, audience)
            for channel in ("email", "sms", "push"):
                for token in request_opt_in(session, ids, channel, source="demo", text_version="v1").values():
                    confirm(session, token)
            for cid in ids:
                add_push_endpoint(session, cid, "fcm", f"demo-device-{cid:08d}")
        local.fcm.unregister(f"demo-device-{ids[0]:08d}")
        definition = parse_definition(
            {
                "name": CAMPAIGN,
                "channels": ["email", "sms", "push", "webhook"],
                "audience": {"contact_ids": ids},
                "utm": {"source": "aicmo-demo", "campaign": "winter-launch"},
                "messages": {
                    "email": {
                        "subject": "{{ contact.first_name or 'Hello' }}, winter is here",
                        "html": "<p>Hi {{ contact.first_name }},</p><p>Our winter range is out: "
                        '<a href="https://shop.example.com/winter">have a look</a>.</p>',
                    },
                    "sms": {"text": "Winter range out now: https://shop.example.com/winter"},
                    "push": {
                        "title": "Winter is here",
                        "body": "New range out now",
                        "url": "https://shop.example.com/winter",
                    },
                    "webhook": {
                        "url": local.webhooks.url,
                        "event": "campaign.sent",
                        "data": {"tier": "{{ contact.tier }}"},
                    },
                },
            }
        )
        if status_or_none(CAMPAIGN) is None:
            create_campaign(eng, definition)
            schedule(eng, CAMPAIGN)
        result = publish_campaigns(campaign=CAMPAIGN)
        received = {
            "smtp_messages": local.smtp.count,
            "twilio_messages": len(local.twilio.messages),
            "fcm_messages": len(local.fcm.messages),
            "webhook_deliveries": len(local.webhooks.deliveries),
        }
    st = status(eng, CAMPAIGN)
    ledger = [
        {"channel": c, "state": s, "rows": n}
        for (s, c), n in sorted(st.ledger.items(), key=lambda kv: kv[0][::-1])
    ]
    run = result["campaigns"][0] if result["campaigns"] else {}
    return {
        "campaign": CAMPAIGN,
        "status": st.status,
        "sent_this_run": run.get("sent", 0),
        "skip_or_failure_reasons": st.skip_reasons,
        "received": received,
        "ledger": ledger,
    }


def status_or_none(name: str) -> str | None:
    """The campaign's status, or None when it does not exist yet (a rerun of the demo)."""
    from aicmo.errors import InputError

    try:
        return status(engine(), name).status
    except InputError:
        return None


def track_demo() -> dict[str, Any]:
    """Opens, clicks and unsubscribes of the demo campaign's emails, through the tracking service."""
    from aicmo.tasks.tracking.demo import serve_in_background, simulate_engagement

    settings = get_settings()
    eng = engine()
    with transaction(eng) as session:
        campaign_id = get_campaign(session, CAMPAIGN).id
        recipients = sent_contact_ids(session, campaign_id, "email")
    with serve_in_background(settings, engine=eng, lake=lake()) as base_url:
        report = simulate_engagement(
            base_url,
            campaign_id,
            recipients,
            tracking=settings.tracking,
            links=("https://shop.example.com/winter?utm_source=aicmo-demo&utm_campaign=winter-launch",),
        )
    return {
        "campaign": CAMPAIGN,
        "recipients": len(recipients),
        "opens": report.opens,
        "human_opens": report.human_opens,
        "machine_opens": report.machine_opens,
        "clicks": report.clicks,
        "human_clicks": report.human_clicks,
        "scanner_clicks": report.scanner_clicks,
        "unsubscribes": report.unsubscribes,
        "not_acknowledged": report.failed,
    }
