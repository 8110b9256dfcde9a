"""A local Twilio Messages API: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form-encoded, basic auth).

Answers 201 with a Message resource (``sid`` SM..., ``status`` queued, ``num_segments``), or
Twilio's error body ``{"code", "message", "more_info", "status"}``: 20003 (401) for a wrong
credential, 21211 for an invalid ``To``, 21610 for a recipient who replied STOP
(``unsubscribe(number)``), 20429 (429) and 5xx through faults. Route name for faults: ``messages``.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

from aiohttp import web

from aicmo.fakes.http_app import BackgroundApp, apply

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "fake-twilio-auth-token-0000000001"


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


class FakeTwilio(BackgroundApp):
    """Records accepted messages in ``messages`` (dicts of the form fields plus ``sid``)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.messages: list[dict[str, str]] = []
        self.stopped: set[str] = set()

    def unsubscribe(self, number: str) -> None:
        """The number replied STOP: sends to it fail with 21610."""
        self.stopped.add(number)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    async def _create(self, request: web.Request) -> web.Response:
        fault = self.faults.take("messages")
        await apply(fault, request)
        expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
        if request.match_info["sid"] != ACCOUNT_SID or request.headers.get("Authorization") != expected:
            return _error(401, 20003, "Authenticate")
        if fault is not None and fault.kind == "status":
            if fault.status == 429:
                return _error(429, 20429, "Too Many Requests")
            return _error(fault.status, int(fault.code or 20500), "Internal Server Error")
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        if not to.startswith("+") or not to[1:].isdigit():
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if to in self.stopped:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        sid = "SM" + uuid.uuid4().hex
        record = {k: str(v) for k, v in form.items()}
        with self.lock:
            self.messages.append({**record, "sid": sid})
        return web.json_response(
            {
                "sid": sid,
                "account_sid": ACCOUNT_SID,
                "to": to,
                "from": record.get("From"),
                "messaging_service_sid": record.get("MessagingServiceSid"),
                "body": body,
                "status": "queued",
                "num_segments": record.get("_segments", "1"),
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "uri": f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{sid}.json",
            },
            status=201,
        )
