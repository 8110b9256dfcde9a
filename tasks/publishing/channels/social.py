"""One post per campaign to a Mastodon-compatible account: ``POST /api/v1/statuses``.

Approved assets are uploaded first (``POST /api/v2/media``, multipart) and attached by id (a
failed upload is transient: nothing has been posted yet). The
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
from aicmo.tasks.gateway import PostReply, post
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

    async def _upload(self, files: list[tuple[str, str, bytes]]) -> list[str] | Verdict:
        """Upload each (name, MIME type, bytes); the media ids, or the verdict of a failed upload.

        Nothing is posted yet, so a failed upload is safe to retry: at worst the server keeps an
        unattached media item from the earlier try, which Mastodon discards on its own.
        """
        assert isinstance(self.client, aiohttp.ClientSession)
        ids: list[str] = []
        for name, mime, data in files:
            form = aiohttp.FormData()
            form.add_field("file", data, filename=name, content_type=mime)
            try:
                async with self.client.post(
                    f"{self.base}/api/v2/media", data=form, headers=self.headers
                ) as response:
                    reply = PostReply(response.status, response.headers, await response.read())
            except (TimeoutError, aiohttp.ClientError) as exc:
                return Verdict.transient(f"media upload {name}: {type(exc).__name__}: {exc}")
            if reply.status_code not in (200, 202):
                return self.classify(reply, f"media upload {name}: {_error(reply)}")
            ids.append(str(reply.json()["id"]))
        return ids

    async def deliver(self, envelope: Envelope) -> Verdict:
        assert self.client is not None
        try:
            files = [
                (
                    asset.name or Path(asset.path).name,
                    asset.mime_type or "application/octet-stream",
                    Path(asset.path).read_bytes(),
                )
                for asset in envelope.assets
            ]
        except OSError as exc:
            return Verdict.permanent(f"asset unreadable: {exc}", "bad_attachment")
        media_ids = await self._upload(files)
        if isinstance(media_ids, Verdict):
            return media_ids
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
        return self.classify(response, _error(response))


def _error(reply: PostReply) -> str:
    """Mastodon's ``{"error": ...}`` text of a refusal (the start of the body if it is not JSON)."""
    try:
        return str(reply.json().get("error", ""))
    except (ValueError, AttributeError):
        return reply.text[:200]


def _form(pairs: list[tuple[str, str]]) -> bytes:
    from urllib.parse import urlencode

    return urlencode(pairs).encode()
