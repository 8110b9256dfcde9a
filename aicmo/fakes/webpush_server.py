"""A local web push service (RFC 8030): ``POST /push/{id}`` with an encrypted body and VAPID auth.

Checks the request the way a push service does (``Authorization: vapid t=<jwt>, k=<key>`` with a
valid ES256 signature, ``Content-Encoding: aes128gcm``, ``TTL``) and answers 201 with a
``Location``; a subscription marked ``expire(id)`` answers 410 Gone, an unknown one 404. The
encrypted bodies are kept (``received``) so a test can decrypt them with the subscriber's keys.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from aicmo.fakes.http_app import BackgroundApp, apply


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def vapid_valid(header: str) -> bool:
    """Whether ``vapid t=<jwt>, k=<public key>`` carries a JWT signed by that key (ES256)."""
    if not header.lower().startswith("vapid "):
        return False
    parts = dict(p.strip().split("=", 1) for p in header[6:].split(",") if "=" in p)
    try:
        token, key = parts["t"], _b64d(parts["k"])
        head, claims, sig = token.split(".")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
        raw = _b64d(sig)
        signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        public.verify(signature, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
        payload = json.loads(_b64d(claims))
    except (KeyError, ValueError, InvalidSignature):
        return False
    return "aud" in payload and "exp" in payload


class FakeWebPush(BackgroundApp):
    """Subscriptions are ids under ``/push/``; ``received`` holds (id, headers, encrypted body)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.expired: set[str] = set()
        self.known: set[str] = set()

    def subscription_url(self) -> str:
        """A new subscription's endpoint URL."""
        sid = uuid.uuid4().hex
        self.known.add(sid)
        return f"{self.base_url}/push/{sid}"

    def expire(self, endpoint: str) -> None:
        """The browser unsubscribed: the endpoint answers 410 Gone."""
        self.expired.add(endpoint.rsplit("/", 1)[-1])

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/push/{sid}", self._push)

    async def _push(self, request: web.Request) -> web.Response:
        fault = self.faults.take("push")
        await apply(fault, request)
        sid = request.match_info["sid"]
        if not vapid_valid(request.headers.get("Authorization", "")):
            return web.Response(status=401, text="invalid VAPID authorization")
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.Response(status=fault.status, headers=headers)
        if sid in self.expired:
            return web.Response(status=410, text="push subscription has unsubscribed or expired")
        if sid not in self.known:
            return web.Response(status=404, text="no such subscription")
        if request.headers.get("Content-Encoding") != "aes128gcm" or "TTL" not in request.headers:
            return web.Response(status=400, text="Content-Encoding aes128gcm and TTL are required")
        body = await request.read()
        if len(body) > 4096:
            return web.Response(status=413, text="payload too large")
        with self.lock:
            self.received.append((sid, dict(request.headers), body))
        return web.Response(status=201, headers={"Location": f"{self.base_url}/message/{uuid.uuid4().hex}"})
