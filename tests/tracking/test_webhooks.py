"""Provider webhooks over real HTTP: each real signature scheme, accepted once, refused when spoiled."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.tasks.crm.suppression import is_suppressed
from tests.tracking.conftest import Service
from tests.tracking.webhook_cases import (
    CASES,
    TOPIC,
    Built,
    CertServer,
    cert_server,
    now,
    ses_bounce,
    sns_envelope,
)


@pytest.fixture
def certs() -> Iterator[CertServer]:
    with cert_server() as server:
        yield server


def _build(case_name: str, svc: Service, certs: CertServer, **kw: Any) -> Built:
    kw.setdefault("ts", now())
    return CASES[case_name].build(base_url=svc.url, cert_base=certs.url, **kw)


def _send(svc: Service, built: Built) -> Any:
    return svc.client.post(built.path, content=built.body, headers=built.headers)


@pytest.mark.parametrize("name", sorted(CASES))
def test_valid_request_lands_once_even_when_replayed(
    name: str, service_factory: Callable[..., Service], certs: CertServer, sqlite_engine: Engine
) -> None:
    case = CASES[name]
    svc = service_factory(**case.settings)
    built = _build(name, svc, certs)
    first = _send(svc, built)
    assert first.status_code == 200, first.text
    assert first.json()["events"] == case.events
    replay = _send(svc, built)  # the same request again: answered, not written twice
    assert replay.status_code == 200
    assert svc.metric("aicmo_tracking_rejects_total", reason="replay") == 1
    svc.flush()
    events = svc.events()
    assert events.height == case.events
    assert events.get_column("provider").unique().to_list() == [name]
    assert events.get_column("campaign_id").to_list() == [7] * case.events
    if case.hard_bounce_address:
        with transaction(sqlite_engine) as session:
            assert is_suppressed(session, case.hard_bounce_address, "email") == "hard_bounce"
    if name == "twilio":
        with transaction(sqlite_engine) as session:
            assert is_suppressed(session, "+14155550100", "sms") == "hard_bounce"


@pytest.mark.parametrize("name", sorted(CASES))
def test_spoiled_requests_are_refused_and_counted(
    name: str, service_factory: Callable[..., Service], certs: CertServer
) -> None:
    case = CASES[name]
    svc = service_factory(**case.settings)
    spoiled = {
        "bad_signature": [
            _build(name, svc, certs, tamper=True),
            _build(name, svc, certs, key=case.extra["wrong_key"]),
        ],
        "missing_signature": [_build(name, svc, certs, drop_header=True)],
    }
    if case.stale_s is not None:
        spoiled["stale_timestamp"] = [_build(name, svc, certs, ts=now() - case.stale_s - 120)]
    for reason, requests in spoiled.items():
        for built in requests:
            response = _send(svc, built)
            assert response.status_code == 401, (reason, response.text)
        assert svc.metric("aicmo_tracking_rejects_total", reason=reason) == len(requests)
    # wrong content type and an oversized body: 4xx, counted, nothing spooled
    built = _build(name, svc, certs)
    wrong_type = svc.client.post(
        built.path, content=built.body, headers={**built.headers, "Content-Type": "application/xml"}
    )
    assert wrong_type.status_code == 415
    huge = svc.client.post(built.path, content=b"{" + b" " * (2 << 20) + b"}", headers=built.headers)
    assert huge.status_code == 413
    assert svc.metric("aicmo_tracking_rejects_total", reason="too_large") == 1
    assert svc.client.get("/healthz").json()["queue_depth"] == 0
    svc.flush()
    assert svc.events().is_empty()


def test_signed_but_malformed_json_is_a_400(
    service_factory: Callable[..., Service], certs: CertServer
) -> None:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.tracking.webhook_cases import SENDGRID_KEY, SENDGRID_PUBLIC

    svc = service_factory(sendgrid_public_key=SENDGRID_PUBLIC)
    stamp = str(int(now()))
    for body in (b'[{"event": "open", "timestamp": ', b'{"not": "an array"}', b'[{"no_event": 1}]'):
        sig = base64.b64encode(SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
        response = svc.client.post(
            "/webhooks/sendgrid",
            content=body,
            headers={"Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
                     "X-Twilio-Email-Event-Webhook-Signature": sig},
        )  # fmt: skip
        assert response.status_code == 400, response.text
    assert svc.metric("aicmo_tracking_rejects_total", reason="malformed_json") == 1
    assert svc.metric("aicmo_tracking_rejects_total", reason="malformed_event") == 2


def test_unconfigured_provider_is_not_found(service: Service) -> None:
    response = service.client.post(
        "/webhooks/sendgrid", content=b"[]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 404


def test_sns_subscription_is_confirmed_and_certificates_are_cached(
    service_factory: Callable[..., Service], certs: CertServer
) -> None:
    svc = service_factory(**CASES["ses"].settings)
    cert_url = f"{certs.url}/SimpleNotificationService-test.pem"
    confirm = sns_envelope("You have chosen to subscribe to the topic " + TOPIC, cert_url=cert_url, ts=now(),
                           kind="SubscriptionConfirmation", version="1")  # fmt: skip
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": "SubscriptionConfirmation",
    }
    assert svc.client.post("/webhooks/ses", content=json.dumps(confirm), headers=headers).status_code == 200
    assert any("Action=ConfirmSubscription" in hit for hit in certs.hits)
    for _ in range(2):
        note = sns_envelope(ses_bounce(now()), cert_url=cert_url, ts=now())
        headers["x-amz-sns-message-type"] = "Notification"
        assert svc.client.post("/webhooks/ses", content=json.dumps(note), headers=headers).status_code == 200
    assert sum(hit.endswith(".pem") for hit in certs.hits) == 1  # fetched once, then cached


def test_sns_certificates_come_only_from_the_sns_origin(
    service_factory: Callable[..., Service], certs: CertServer
) -> None:
    svc = service_factory(
        sns_topic_arns=[TOPIC]
    )  # the production pattern: https://sns.<region>.amazonaws.com
    headers = {"Content-Type": "text/plain; charset=UTF-8"}
    for cert_url in (
        f"{certs.url}/SimpleNotificationService-test.pem",
        "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem",
        "https://sns.us-west-2.amazonaws.com@127.0.0.1/cert.pem",
    ):
        note = sns_envelope(ses_bounce(now()), cert_url=cert_url, ts=now())
        response = svc.client.post("/webhooks/ses", content=json.dumps(note), headers=headers)
        assert response.status_code == 401
    assert svc.metric("aicmo_tracking_rejects_total", reason="bad_certificate_url") == 3
    assert certs.hits == []  # nothing was fetched


def test_sendgrid_redelivery_after_restart_lands_once(
    service_factory: Callable[..., Service], certs: CertServer
) -> None:
    svc = service_factory(**CASES["sendgrid"].settings)
    assert _send(svc, _build("sendgrid", svc, certs)).status_code == 200
    svc.flush()
    svc.runtime.stop()
    svc.runtime.start()  # the replay memory is gone; the event ids still match
    assert _send(svc, _build("sendgrid", svc, certs, ts=now() + 1)).status_code == 200
    svc.flush()
    events = svc.events()
    assert events.height == 3
    assert events.filter(pl.col("type") == "open").get_column("is_machine").to_list() == [True]
