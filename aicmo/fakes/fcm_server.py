"""A local FCM HTTP v1 API: ``POST /v1/projects/{project}/messages:send`` with an OAuth bearer token.

Answers ``{"name": "projects/{project}/messages/{id}"}``, or FCM's error body
``{"error": {"code", "message", "status", "details": [{"@type": ...FcmError, "errorCode"}]}}``:
UNREGISTERED (404) for a token marked ``unregister(token)``, INVALID_ARGUMENT (400) for a
malformed one, UNAUTHENTICATED (401) for a wrong token, QUOTA_EXCEEDED (429) and UNAVAILABLE
(503) through faults (route ``send``).
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from aicmo.fakes.http_app import BackgroundApp, apply

ACCESS_TOKEN = "ya29.fake-fcm-access-token"
PROJECT = "aicmo-demo"
_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}


def fcm_error(status: int, error_code: str, message: str) -> web.Response:
    """FCM v1's error body."""
    return web.json_response(
        {
            "error": {
                "code": status,
                "message": message,
                "status": _STATUS.get(status, "UNKNOWN"),
                "details": [
                    {"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": error_code}
                ],
            }
        },
        status=status,
    )


class FakeFcm(BackgroundApp):
    """Records accepted messages in ``messages`` (the ``message`` objects sent)."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.messages: list[dict[str, Any]] = []
        self.unregistered: set[str] = set()

    def unregister(self, token: str) -> None:
        """The app was uninstalled: sends to ``token`` fail with UNREGISTERED."""
        self.unregistered.add(token)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/projects/{project}/messages:send", self._send)

    async def _send(self, request: web.Request) -> web.Response:
        fault = self.faults.take("send")
        await apply(fault, request)
        if request.headers.get("Authorization") != f"Bearer {ACCESS_TOKEN}":
            return fcm_error(401, "THIRD_PARTY_AUTH_ERROR", "Request had invalid authentication credentials.")
        if fault is not None and fault.kind == "status":
            code = {429: "QUOTA_EXCEEDED", 503: "UNAVAILABLE"}.get(fault.status, "INTERNAL")
            response = fcm_error(fault.status, code, "fault")
            if fault.retry_after:
                response.headers["Retry-After"] = fault.retry_after
            return response
        try:
            body = await request.json()
            message = body["message"]
            token = message["token"]
        except (ValueError, KeyError, TypeError):
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if not isinstance(token, str) or len(token) < 8:
            return fcm_error(
                400, "INVALID_ARGUMENT", "The registration token is not a valid FCM registration token"
            )
        if token in self.unregistered:
            return fcm_error(404, "UNREGISTERED", "Requested entity was not found.")
        with self.lock:
            self.messages.append(message)
        project = request.match_info["project"]
        return web.json_response({"name": f"projects/{project}/messages/0:{uuid.uuid4().hex}"})
