"""Each HTTP channel end to end through the sender, against its local fake on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from typing import Any

import http_ece
import pytest
from sqlalchemy import Engine
from standardwebhooks.webhooks import Webhook

from aicmo.fakes.channels import LocalChannels
from aicmo.fakes.webhook_receiver import SECRET
from aicmo.storage.db import transaction
from aicmo.storage.publishing import add_push_endpoint, push_endpoints
from aicmo.tasks.crm.suppression import is_suppressed
from aicmo.tasks.publishing.campaigns import status
from aicmo.tasks.publishing.channels.sms import sms_segments
from aicmo.tasks.publishing.definition import parse_definition
from tests.publishing.helpers import add_contacts, link_fields, run, started


def _definition(name: str, ids: list[int], channels: list[str], webhook_url: str = "http://x") -> Any:
    messages: dict[str, Any] = {
        "sms": {"text": "Hi {{ contact.first_name }}: sale at https://shop.example.com/s"},
        "push": {
            "title": "Sale",
            "body": "For you, {{ contact.first_name }}",
            "url": "https://shop.example.com/p",
        },
        "webpush": {
            "title": "Sale",
            "body": "For you, {{ contact.first_name }}",
            "url": "https://shop.example.com/w",
        },
        "social": {"text": "Our spring sale starts today https://shop.example.com/social"},
        "webhook": {
            "url": webhook_url,
            "event": "campaign.sale",
            "data": {"greeting": "Hi {{ contact.first_name }}"},
        },
    }
    return parse_definition(
        {
            "name": name,
            "channels": channels,
            "audience": {"contact_ids": ids},
            "messages": {c: messages[c] for c in channels},
        }
    )


def test_sms_segments_count_gsm7_and_ucs2() -> None:
    assert sms_segments("a" * 160) == ("GSM-7", 1)
    assert sms_segments("a" * 161) == ("GSM-7", 2)
    assert sms_segments("{" * 80) == ("GSM-7", 1)  # extension characters take two septets
    assert sms_segments("{" * 81) == ("GSM-7", 2)
    assert sms_segments("é" * 160) == ("GSM-7", 1)  # é is in the GSM basic set
    assert sms_segments("ł" * 70) == ("UCS-2", 1)
    assert sms_segments("ł" * 71) == ("UCS-2", 2)
    assert sms_segments("😀" * 35) == ("UCS-2", 1)  # a surrogate pair counts twice


async def test_sms_over_twilio_shape_with_stop_bad_numbers_and_a_5xx(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 6, consent=("sms",))
    with transaction(engine) as session:
        from sqlalchemy import update

        from aicmo.models.crm import Contact

        session.execute(update(Contact).where(Contact.id == ids[0]).values(phone="12"))  # not a number
    local.twilio.unsubscribe("+14155550001")
    local.twilio.faults.add("messages", status=503)
    campaign_id = started(engine, _definition("sms", ids, ["sms"]))
    report = await run(engine, campaign_id, local.settings(retry_backoff_s=0.05))

    assert report.finished
    to = sorted(m["To"] for m in local.twilio.messages)
    assert to == ["+14155550002", "+14155550003", "+14155550004", "+14155550005"]
    assert all("utm_medium=sms" in m["Body"] for m in local.twilio.messages)
    assert all(
        m["StatusCallback"].startswith("https://t.example.com/webhooks/twilio?aicmo_campaign_id=")
        for m in local.twilio.messages
    )
    st = status(engine, "sms")
    assert st.skip_reasons == {"no_address": 1, "sms_stop": 1}
    with transaction(engine) as session:
        assert is_suppressed(session, "+14155550001", "sms") == "sms_stop"


async def test_fcm_push_drops_unregistered_tokens(engine: Engine, local: LocalChannels) -> None:
    ids = add_contacts(engine, 3, consent=("push",))
    with transaction(engine) as session:
        for i, cid in enumerate(ids):
            add_push_endpoint(session, cid, "fcm", f"fcm-token-{i:04d}")
    local.fcm.unregister("fcm-token-0001")
    campaign_id = started(engine, _definition("push", ids, ["push"]))
    report = await run(engine, campaign_id, local.settings())

    assert report.finished and report.sent == 2
    tokens = sorted(m["token"] for m in local.fcm.messages)
    assert tokens == ["fcm-token-0000", "fcm-token-0002"]
    assert local.fcm.messages[0]["notification"]["title"] == "Sale"
    target = link_fields(local.fcm.messages[0]["data"]["url"])  # the signed click URL
    assert target is not None and "utm_medium=push" in target["u"]
    with transaction(engine) as session:
        left = push_endpoints(session, ids, "fcm")
    assert ids[1] not in left and len(left) == 2


async def test_web_push_is_encrypted_for_the_subscriber_and_gone_subscriptions_dropped(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 2, consent=("push",))
    subs = []
    with transaction(engine) as session:
        for cid in ids:
            endpoint, keys, private = local.subscription()
            add_push_endpoint(session, cid, "webpush", endpoint, p256dh=keys["p256dh"], auth=keys["auth"])
            subs.append((endpoint, keys, private))
    local.webpush.expire(subs[1][0])
    campaign_id = started(engine, _definition("wp", ids, ["webpush"]))
    report = await run(engine, campaign_id, local.settings())

    assert report.finished and report.sent == 1
    (_, headers, body) = local.webpush.received[0]
    endpoint, keys, private = subs[0]
    auth = base64.urlsafe_b64decode(keys["auth"] + "==")
    plain = json.loads(http_ece.decrypt(body, private_key=private, auth_secret=auth, version="aes128gcm"))
    assert plain["title"] == "Sale" and plain["body"] == "For you, Ann0"
    assert headers["Authorization"].startswith("vapid t=")
    with transaction(engine) as session:
        assert ids[1] not in push_endpoints(session, ids, "webpush")
    assert status(engine, "wp").skip_reasons == {"token_gone": 1}


async def test_social_posts_once_per_campaign_even_when_the_answer_is_lost(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 5)
    local.mastodon.faults.add("statuses", kind="drop")  # created, but the answer never arrives
    campaign_id = started(engine, _definition("social", ids, ["social"]))
    report = await run(engine, campaign_id, local.settings())

    assert report.finished and report.sent == 1
    assert local.mastodon.requests == 2  # retried with the same Idempotency-Key...
    assert len(local.mastodon.statuses) == 1  # ...and posted once
    assert "utm_medium=social" in local.mastodon.statuses[0]["content"]


async def test_webhooks_are_signed_verified_and_retried_without_duplicates(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 8)
    local.webhooks.faults.add("hooks", status=503, times=2)
    local.webhooks.faults.add("hooks", kind="drop")
    campaign_id = started(engine, _definition("hooks", ids, ["webhook"], webhook_url=local.webhooks.url))
    report = await run(engine, campaign_id, local.settings())

    assert report.finished and report.sent == 8 and not report.unknown
    assert len(local.webhooks.deliveries) == 8 and local.webhooks.rejected == 0
    assert local.webhooks.attempts == 8 + 3
    payload = next(iter(local.webhooks.deliveries.values()))
    assert payload["type"] == "campaign.sale" and payload["data"]["greeting"].startswith("Hi Ann")


async def test_webhook_with_a_wrong_secret_is_rejected_by_the_receiver(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 2)
    campaign_id = started(engine, _definition("badsig", ids, ["webhook"], webhook_url=local.webhooks.url))
    other = "whsec_" + base64.b64encode(b"another-secret-of-32-bytes-long!").decode()
    report = await run(engine, campaign_id, local.settings(webhook_secret=other))
    assert report.halted is not None and "credentials" in report.halted
    assert local.webhooks.deliveries == {} and local.webhooks.rejected >= 1
    Webhook(SECRET)  # the receiver's own library accepts the configured secret


@pytest.mark.parametrize("channel", ["sms", "push"])
async def test_missing_credentials_are_one_clear_config_error(engine: Engine, channel: str) -> None:
    from aicmo.errors import ConfigError
    from aicmo.settings import PublishingSettings
    from aicmo.tasks.publishing.channels.registry import channel_factory

    build = channel_factory(PublishingSettings())
    with pytest.raises(ConfigError, match="AICMO_"):
        build(channel, _definition("x", [1], [channel]))
