"""One post per campaign to a Mastodon-compatible account: ``POST /api/v1/statuses``.

Approved assets are uploaded first (``POST /api/v2/media``, multipart) and attached by id. The
status carries an ``Idempotency-Key`` (the ledger row's key), which Mastodon honours, so a retry
after a lost answer returns the same post instead of a second one: this channel may retry
timeouts and 5xx safely.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.gateway import PostFailed, post
from aicmo.tasks.publishing.channels.base import Envelope, Verdict
from aicmo.tasks.publishing.channels.http import HttpChannel


class SocialChannel(HttpChannel):
    """Mastodon-compatible status posting."""

    name = "social"
    credential_hint = "AICMO_MASTODON_ACCESS_TOKEN"

    def __init__(self, settings: PublishingSettings, **kw: Any) -> None:
        super().__init__(settings, **kw)
        if not (settings.mastodon_base_url and settings.mastodon_access_token):
            raise ConfigError("social: set AICMO_MASTODON_BASE_URL and AICMO_MASTODON_ACCESS_TOKEN to post")
        self.base = settings.mastodon_base_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {settings.mastodon_access_token.get_secret_value()}"}

    async def _upload(self, envelope: Envelope) -> list[str]:
        assert self.client is not None
        ids: list[str] = []
        for asset in envelope.assets:
            path = Path(asset.path)
            form = aiohttp.FormData()
            form.add_field(
                "file",
                path.read_bytes(),
                filename=asset.name or path.name,
                content_type=asset.mime_type or "application/octet-stream",
            )
            async with self.client.post(
                f"{self.base}/api/v2/media", data=form, headers=self.headers
            ) as response:
                if response.status not in (200, 202):
                    raise PostFailed(
                        "mastodon", "client_error", f"media upload: {response.status}", may_have_arrived=False
                    )
                ids.append(str((await response.json(content_type=None))["id"]))
        return ids

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        try:
            media_ids = await self._upload(envelope)
        except OSError as exc:
            return Verdict.permanent(f"asset unreadable: {exc}", "bad_attachment")
        form: list[tuple[str, str]] = [("status", envelope.message.text), ("visibility", "public")]
        form.extend(("media_ids[]", mid) for mid in media_ids)
        response = await post(
            self.client,
            f"{self.base}/api/v1/statuses",
            provider="mastodon",
            settings=self.gateway,
            data=dict(form) if not media_ids else None,
            content=None if not media_ids else _form(form),
            headers=self.headers
            if not media_ids
            else {**self.headers, "Content-Type": "application/x-www-form-urlencoded"},
            idempotency_key=envelope.idempotency_key,
            key_honoured=True,
            breaker=self.breaker,
        )
        if response.status_code == 200:
            body = response.json()
            return Verdict.sent(str(body.get("id")))
        try:
            detail = str(response.json().get("error", ""))
        except ValueError:
            detail = response.text[:200]
        return self.classify(response, detail)


def _form(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs).encode()
