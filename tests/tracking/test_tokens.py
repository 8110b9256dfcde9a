"""Tracking tokens: round trip, rotation, forgery, truncation, kind confusion."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest
from pydantic import SecretStr

from aicmo.settings import TrackingSettings
from aicmo.tasks.tracking.tokens import (
    CLICK,
    OPEN,
    UNSUBSCRIBE,
    TokenError,
    TokenSigner,
    TrackingLinks,
    TrackingToken,
)

OLD, NEW = "old-key-0123456789abcdef", "new-key-0123456789abcdef"


def _token_of(url: str, prefix: str) -> str:
    return url.split(prefix, 1)[1].removesuffix(".gif")


def test_links_carry_what_they_were_built_for() -> None:
    links = TrackingLinks(TrackingSettings(base_url="https://t.example.com/", keys=[SecretStr(NEW)]))
    signer = TokenSigner([NEW])
    click = links.click_url(7, 42, "email", "https://shop.example.com/a?b=1&c=é")
    assert click.startswith("https://t.example.com/c/")
    token = signer.verify(_token_of(click, "/c/"), CLICK)
    assert token == TrackingToken(
        CLICK, 7, 42, "email", "https://shop.example.com/a?b=1&c=é", issued_at=token.issued_at
    )
    assert token.issued_at is not None and abs(token.issued_at - time.time()) < 60
    opened = links.open_url(7, 42, "email")
    assert opened.endswith(".gif")
    assert signer.verify(_token_of(opened, "/o/"), OPEN).contact_id == 42
    unsub = links.unsubscribe_url(7, 42, "sms")
    assert signer.verify(_token_of(unsub, "/u/"), UNSUBSCRIBE).channel == "sms"


def test_rotation_new_key_signs_old_key_still_verifies() -> None:
    old_token = TokenSigner([OLD]).sign(TrackingToken(OPEN, 1, 2, "email"))
    rotated = TokenSigner([NEW, OLD])
    assert rotated.verify(old_token).campaign_id == 1
    new_token = rotated.sign(TrackingToken(OPEN, 1, 2, "email"))
    assert TokenSigner([NEW]).verify(new_token).campaign_id == 1
    with pytest.raises(TokenError):
        TokenSigner([OLD]).verify(new_token)  # the newest key signs
    with pytest.raises(TokenError):
        TokenSigner([NEW]).verify(old_token)  # a retired key no longer verifies


@pytest.mark.parametrize("damage", ["truncate", "flip_payload", "flip_tag", "swap_payload", "junk", "empty"])
def test_forged_or_damaged_tokens_are_refused(damage: str) -> None:
    signer = TokenSigner([NEW])
    token = signer.sign(TrackingToken(CLICK, 1, 2, "email", "https://a.example.com/"))
    payload, tag = token.split(".")
    other = signer.sign(TrackingToken(CLICK, 1, 2, "email", "https://evil.example.net/")).split(".")[0]
    forged = {
        "truncate": token[:-3],
        "flip_payload": ("B" if payload[3] != "B" else "C").join([payload[:3], payload[4:]]) + "." + tag,
        "flip_tag": payload + "." + ("A" if tag[0] != "A" else "B") + tag[1:],
        "swap_payload": other + "." + tag,
        "junk": "not-a-token",
        "empty": "",
    }[damage]
    with pytest.raises(TokenError):
        signer.verify(forged)


def test_kind_is_signed_so_an_open_token_cannot_unsubscribe() -> None:
    signer = TokenSigner([NEW])
    token = signer.sign(TrackingToken(OPEN, 1, 2, "email"))
    with pytest.raises(TokenError):
        signer.verify(token, UNSUBSCRIBE)


def test_click_targets_must_be_absolute_http() -> None:
    links = TrackingLinks(TrackingSettings(keys=[SecretStr(NEW)]))
    for bad in ("javascript:alert(1)", "//evil.example.net/", "/relative"):
        with pytest.raises(ValueError):
            links.click_url(1, 2, "email", bad)


def test_without_configured_keys_each_installation_gets_its_own_private_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aicmo.settings import reset_settings
    from aicmo.tasks.tracking.tokens import TRACKING_KEY_FILE, signer_from_settings

    monkeypatch.delenv("AICMO_TRACKING_KEYS", raising=False)
    tokens = []
    for name in ("one", "two"):
        monkeypatch.setenv("AICMO_HOME", str(tmp_path / name))
        reset_settings()
        signer = signer_from_settings()
        key_file = tmp_path / name / TRACKING_KEY_FILE
        assert key_file.exists() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
        tokens.append(signer.sign(TrackingToken(OPEN, 1, 2, "email", issued_at=1)))
        assert signer_from_settings().verify(tokens[-1]).contact_id == 2  # the same key on the next run
    reset_settings()
    assert tokens[0] != tokens[1]
