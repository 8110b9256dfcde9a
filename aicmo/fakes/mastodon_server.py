"""A local Mastodon-compatible API: ``POST /api/v1/statuses`` and ``POST /api/v2/media``.

Bearer-token auth (401 ``{"error": "The access token is invalid"}``), 422 on an empty status,
and the ``Idempotency-Key`` header honoured as Mastodon does: a repeat with the same key returns
the status created the first time instead of posting again. Routes for faults: ``statuses``, ``media``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from aicmo.fakes.http_app import BackgroundApp, apply

ACCESS_TOKEN = "fake-mastodon-token-0001"


class FakeMastodon(BackgroundApp):
    """``statuses`` holds the posts created (one per distinct Idempotency-Key), ``media`` the uploads.

    ``status_keys`` has the Idempotency-Key of every status request (None when absent), and
    ``uploads`` the bytes of every upload by media id.
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.statuses: list[dict[str, Any]] = []
        self.media: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.status_keys: list[str | None] = []
        self._by_key: dict[str, dict[str, Any]] = {}
        self.requests = 0

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/statuses", self._status)
        app.router.add_post("/api/v2/media", self._media)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}"

    async def _status(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        with self.lock:
            self.requests += 1
            self.status_keys.append(key)
        fault = self.faults.take("statuses")
        if not self._authorized(request):
            return web.json_response({"error": "The access token is invalid"}, status=401)
        form: Any = (
            await request.post() if request.content_type != "application/json" else await request.json()
        )
        text = str(form.get("status", ""))
        with self.lock:
            known = self._by_key.get(key) if key else None
        if known is None:
            if not text.strip():
                return web.json_response({"error": "Validation failed: Text can't be blank"}, status=422)
            raw = form.getall("media_ids[]", []) if hasattr(form, "getall") else form.get("media_ids", [])
            media_ids = [str(m) for m in raw]
            with self.lock:
                known = {
                    "id": str(103254962155278888 + len(self.statuses)),
                    "content": f"<p>{text}</p>",
                    "visibility": str(form.get("visibility", "public")),
                    "media_attachments": [m for m in self.media if m["id"] in media_ids],
                    "url": f"{self.base_url}/@aicmo/{103254962155278888 + len(self.statuses)}",
                }
                self.statuses.append(known)
                if key:
                    self._by_key[key] = known
        await apply(fault, request)  # a drop after the post was created: the answer is lost
        if fault is not None and fault.kind == "status":
            return web.json_response({"error": "Service Unavailable"}, status=fault.status)
        return web.json_response(known)

    async def _media(self, request: web.Request) -> web.Response:
        fault = self.faults.take("media")
        await apply(fault, request)
        if fault is not None and fault.kind == "status":
            await request.read()
            error = "Validation failed: File type is not supported" if fault.status == 422 else "Error"
            return web.json_response({"error": error}, status=fault.status)
        if not self._authorized(request):
            return web.json_response({"error": "The access token is invalid"}, status=401)
        form = await request.post()
        upload = form.get("file")
        if upload is None or not hasattr(upload, "file"):
            return web.json_response({"error": "Validation failed: File can't be blank"}, status=422)
        data = upload.file.read()
        with self.lock:
            media_id = str(22348641 + len(self.media))
            item = {
                "id": media_id,
                "type": "image",
                "url": f"{self.base_url}/media/{len(self.media)}",
                "preview_url": f"{self.base_url}/media/{len(self.media)}/small",
                "description": str(form.get("description", "")) or None,
                "size": len(data),
            }
            self.media.append(item)
            self.uploads[media_id] = data
        return web.json_response(item)
