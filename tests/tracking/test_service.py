"""The service over real HTTP: pixel, click, one-click unsubscribe, health, metrics."""

from __future__ import annotations

import time

import polars as pl
from sqlalchemy import Engine

from aicmo.storage.db import transaction
from aicmo.tasks.crm import consent as consent_ops
from aicmo.tasks.crm.suppression import is_suppressed
from aicmo.tasks.tracking.service import PIXEL
from aicmo.tasks.tracking.tokens import TokenSigner, TrackingToken
from tests.tracking.conftest import BROWSER, KEY, Service


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _old_click(url: str, target: str) -> str:
    """A click link issued a minute ago (a person reading, not a scanner at delivery)."""
    token = TokenSigner([KEY]).sign(TrackingToken("c", 7, 42, "email", target, int(time.time()) - 60))
    return f"/c/{token}"


def test_open_pixel_is_a_gif_and_lands_in_the_lake_once(service: Service) -> None:
    response = service.client.get(
        _path(service.links.open_url(7, 42, "email")), headers={"User-Agent": BROWSER}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL
    assert "no-store" in response.headers["cache-control"]
    service.flush()
    service.flush()  # a second pass has nothing to add
    events = service.events()
    assert events.select("type", "campaign_id", "contact_id", "channel", "provider", "is_machine").rows() == [
        ("open", 7, 42, "email", "pixel", False)
    ]
    assert service.metric("aicmo_tracking_events_written_total", type="open") == 1


def test_apple_privacy_proxy_opens_are_kept_but_flagged(service: Service) -> None:
    url = _path(service.links.open_url(7, 42, "email"))
    service.client.get(url, headers={"User-Agent": "Mozilla/5.0"})
    service.client.get(url, headers={"User-Agent": BROWSER})
    service.flush()
    flags = service.events().sort("is_machine").select("is_machine", "user_agent_class").rows()
    assert flags == [(False, "browser"), (True, "apple_mpp")]


def test_click_redirects_only_to_the_signed_url(service: Service) -> None:
    response = service.client.get(_old_click(service.url, "https://shop.example.com/p?id=1"))
    assert response.status_code == 302
    assert response.headers["location"] == "https://shop.example.com/p?id=1"
    token = service.links.click_url(7, 42, "email", "https://shop.example.com/").rsplit("/", 1)[1]
    payload, tag = token.split(".")
    for forged in (token[:-4], payload + "." + tag[::-1], "abc.def", payload):
        bad = service.client.get(f"/c/{forged}")
        assert bad.status_code == 404
        assert "location" not in bad.headers
    assert service.metric("aicmo_tracking_rejects_total", reason="bad_token") == 4
    service.flush()
    assert service.events().select("type", "url", "is_machine").rows() == [
        ("click", "https://shop.example.com/p?id=1", False)
    ]


def test_scanner_clicks_are_flagged(service: Service) -> None:
    # at delivery time, every link of the message at once, and a scanner's user agent
    service.client.get(_path(service.links.click_url(7, 42, "email", "https://a.example.com/")))
    service.client.get(_old_click(service.url, "https://b.example.com/"))
    service.client.get(_old_click(service.url, "https://c.example.com/"))
    service.client.get(
        _path(service.links.click_url(8, 43, "email", "https://d.example.com/")),
        headers={"User-Agent": "Mimecast-Scanner/1.0"},
    )
    service.flush()
    events = service.events()
    assert events.height == 4
    assert events.get_column("is_machine").to_list() == [True] * 4
    # one person, one link, a minute after sending: human
    token = TokenSigner([KEY]).sign(
        TrackingToken("c", 9, 44, "email", "https://e.example.com/", int(time.time()) - 60)
    )
    service.client.get(f"/c/{token}", headers={"User-Agent": BROWSER})
    service.flush()
    human = service.events().filter(pl.col("contact_id") == 44)
    assert human.get_column("is_machine").to_list() == [False]


def test_unsubscribe_get_shows_a_form_and_changes_nothing(
    service: Service, contact: int, sqlite_engine: Engine
) -> None:
    url = service.links.unsubscribe_url(7, contact, "email")
    page = service.client.get(_path(url))
    assert page.status_code == 200
    assert "method=post" in page.text and 'name="List-Unsubscribe" value="One-Click"' in page.text
    assert "<script" not in service.client.get(_path(url) + "%22%3E%3Cscript%3E").text
    with transaction(sqlite_engine) as session:
        assert consent_ops.status(session, contact)["email"].status == "confirmed"


def test_one_click_post_unsubscribes_at_once(service: Service, contact: int, sqlite_engine: Engine) -> None:
    url = _path(service.links.unsubscribe_url(7, contact, "email"))
    assert service.client.post(url, content=b"").status_code == 400  # no List-Unsubscribe=One-Click
    response = service.client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    with transaction(sqlite_engine) as session:  # before any flush: the store changed with the answer
        consent = consent_ops.status(session, contact)["email"]
        assert consent.status == "withdrawn"
        assert consent.source == "one_click:unsubscribe"
        assert is_suppressed(session, "ada@example.com", "email") == "unsubscribe"
        assert consent_ops.status(session, contact)["sms"].status == "confirmed"
    # the same from a multipart body (RFC 8058 allows both), for SMS: idempotent, no error
    sms = _path(service.links.unsubscribe_url(7, contact, "sms"))
    response = service.client.post(sms, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    with transaction(sqlite_engine) as session:
        assert consent_ops.status(session, contact)["sms"].status == "withdrawn"
        assert is_suppressed(session, "+14155550100", "sms") == "sms_stop"
    service.flush()
    assert service.events().get_column("type").to_list() == ["unsubscribe", "unsubscribe"]


def test_an_open_token_cannot_unsubscribe(service: Service, contact: int, sqlite_engine: Engine) -> None:
    token = service.links.open_url(7, contact, "email").rsplit("/", 1)[1].removesuffix(".gif")
    response = service.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 404
    with transaction(sqlite_engine) as session:
        assert consent_ops.status(session, contact)["email"].status == "confirmed"


def test_health_and_metrics(service: Service) -> None:
    health = service.client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    service.client.get(_path(service.links.open_url(1, 2, "email")))
    assert service.client.get("/healthz").json()["queue_depth"] == 1
    text = service.client.get("/metrics").text
    for name in (
        "aicmo_tracking_requests_total",
        "aicmo_tracking_events_acknowledged_total",
        "aicmo_tracking_queue_depth",
        "aicmo_tracking_flush_seconds_bucket",
    ):
        assert name in text
    service.flush()
    assert service.metric("aicmo_tracking_queue_depth") == 0
    assert service.metric("aicmo_tracking_requests_total", endpoint="/o", status="200") == 1
