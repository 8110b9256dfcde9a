"""A local webhook receiver that verifies Standard Webhooks signatures with the ``standardwebhooks`` library.

Every POST to ``/hooks`` is verified (``webhook-id``, ``webhook-timestamp``, ``webhook-signature``);
a bad signature answers 401. Deliveries are de-duplicated by ``webhook-id`` as the spec asks of
receivers, so ``deliveries`` counts each message once while ``attempts`` counts every request.
Route for faults: ``hooks``.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from aicmo.fakes.http_app import BackgroundApp, apply

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class WebhookReceiver(BackgroundApp):
    """``deliveries``: ``{webhook-id: payload}``; ``attempts``: requests received; ``rejected``: bad signatures."""

    def __init__(self, secret: str = SECRET, *, verify: bool = True, **kw: Any) -> None:
        super().__init__(**kw)
        self.secret = secret
        self.verify = verify
        self._webhook = Webhook(secret)
        self.deliveries: dict[str, Any] = {}
        self.attempts = 0
        self.rejected = 0

    @property
    def url(self) -> str:
        """Where to send webhooks."""
        return f"{self.base_url}/hooks"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/hooks", self._hook)

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        with self.lock:
            self.attempts += 1
        fault = self.faults.take("hooks")
        await apply(fault, request)
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else None
            return web.Response(status=fault.status, headers=headers)
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self.verify:
            try:
                payload = self._webhook.verify(body, headers)
            except WebhookVerificationError:
                with self.lock:
                    self.rejected += 1
                return web.Response(status=401, text="bad signature")
        else:
            payload = json.loads(body)
        with self.lock:
            self.deliveries.setdefault(headers.get("webhook-id", ""), payload)
        return web.Response(status=204)


def main(argv: list[str] | None = None) -> None:
    """Run the receiver in the foreground until SIGTERM/SIGINT; print the port, then the delivery count."""
    import argparse
    import signal
    import threading

    parser = argparse.ArgumentParser(description="Local Standard Webhooks receiver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-verify", action="store_true", help="Accept without checking signatures.")
    args = parser.parse_args(argv)
    receiver = WebhookReceiver(port=args.port, verify=not args.no_verify).start()
    print(f"port {receiver.port}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    print(f"count {len(receiver.deliveries)} rejected {receiver.rejected}", flush=True)
    receiver.close()


if __name__ == "__main__":
    main()
