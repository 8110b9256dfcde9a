"""The tracking HTTP service: open pixel, click redirect, one-click unsubscribe, provider webhooks.

FastAPI on uvicorn. Every endpoint that records something answers only after its events are
fsync'd to the spool (:class:`GroupCommit`); a background :class:`Flusher` moves them into the
lake. Unsubscribes, complaints and hard bounces change consent and suppression in the store
before the answer, and the flusher re-applies them idempotently after a crash.
"""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from aicmo.settings import Settings, get_settings
from aicmo.storage.lake import Lake
from aicmo.storage.spool import Spool, SpoolBusy, SpoolOwnership
from aicmo.tasks.tracking.committer import GroupCommit
from aicmo.tasks.tracking.consent_sync import apply_events
from aicmo.tasks.tracking.events import TrackedEvent, new_event_id
from aicmo.tasks.tracking.flusher import Flusher
from aicmo.tasks.tracking.machine import classify_click, classify_open
from aicmo.tasks.tracking.metrics import CONTENT_TYPE, TrackingMetrics
from aicmo.tasks.tracking.replay import ReplayGuard
from aicmo.tasks.tracking.tokens import (
    CLICK,
    OPEN,
    UNSUBSCRIBE,
    TokenError,
    TrackingToken,
    signer_from_settings,
)
from aicmo.tasks.tracking.webhooks import ses
from aicmo.tasks.tracking.webhooks.base import Rejected, WebhookRequest
from aicmo.tasks.tracking.webhooks.dispatch import FORM_BODY, WEBHOOKS, ProviderHandlers

log = logging.getLogger(__name__)

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NO_STORE = {"Cache-Control": "no-store, no-cache, must-revalidate, private", "Pragma": "no-cache"}
ONE_CLICK = ("List-Unsubscribe", "One-Click")


@dataclass
class Runtime:
    """What a running service holds: the spool and its writer, the flusher, store, lake, metrics."""

    settings: Settings
    engine: Engine
    lake: Lake
    metrics: TrackingMetrics = field(default_factory=TrackingMetrics)
    spool: Spool | None = None
    commit: GroupCommit | None = None
    flusher: Flusher | None = None
    ownership: SpoolOwnership | None = None

    def start(self) -> None:
        """Open the spool, flush what a previous run left, start the flusher thread."""
        cfg = self.settings.tracking
        try:  # tells a batch flush (the daily pipeline) that this service drains the spool itself
            self.ownership = SpoolOwnership(self.settings.spool_dir)
        except SpoolBusy:
            log.warning("another tracking service on this host shares the spool %s", self.settings.spool_dir)
        self.spool = Spool(self.settings.spool_dir, segment_bytes=cfg.segment_bytes)
        self.flusher = Flusher(
            self.spool,
            self.lake,
            self.engine,
            interval_s=cfg.flush_interval_s,
            batch=cfg.flush_batch,
            scanner_window_s=cfg.scanner_window_s,
            metrics=self.metrics,
        )
        self.commit = GroupCommit(self.spool, after_commit=self.flusher.nudge)
        self.metrics.track_depth(lambda: float(self.spool.depth) if self.spool else 0.0)
        try:
            self.flusher.flush_once()
        except Exception:
            log.exception("recovery flush failed; the flusher retries")
        self.flusher.start()

    def stop(self) -> None:
        """Flush what is left and close the spool."""
        if self.flusher is not None:
            self.flusher.stop(final_flush=True)
        if self.commit is not None:
            self.commit.close()
        if self.spool is not None:
            self.spool.close()
        if self.ownership is not None:
            self.ownership.release()


class _RequestCounter:
    """Pure ASGI middleware counting requests by endpoint family and status (cheap on the hot path)."""

    def __init__(self, app: Any, metrics: TrackingMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self._children: dict[tuple[str, int], Any] = {}  # labelled counters, looked up once

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        parts = path.split("/")
        family = "/".join(parts[:3]) if path.startswith("/webhooks/") else "/".join(parts[:2]) or "/"
        if family not in _FAMILIES:
            family = "other"
        status = [500]

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            key = (family, status[0])
            child = self._children.get(key)
            if child is None:
                child = self._children[key] = self.metrics.requests.labels(family, str(status[0]))
            child.inc()


_FAMILIES = {
    "/o",
    "/c",
    "/u",
    "/healthz",
    "/metrics",
    "/empty",
    *(f"/webhooks/{n}" for n in ("sendgrid", "mailgun", "postmark", "ses", "twilio", "standard")),
}


async def read_body(request: Request, cap: int) -> bytes:
    """The request body, refused with 413 past ``cap`` bytes (before reading it all)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Rejected("bad_request", 400)
        if int(declared) > cap:
            raise Rejected("too_large", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise Rejected("too_large", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def one_click_requested(body: bytes, content_type: str) -> bool:
    """Whether a POST body carries ``List-Unsubscribe=One-Click`` (RFC 8058: urlencoded or multipart)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        try:
            fields = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except (UnicodeDecodeError, ValueError):
            return False
        return ONE_CLICK[1] in fields.get(ONE_CLICK[0], [])
    if kind == "multipart/form-data":
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts() if message.is_multipart() else []:
            if part.get_param("name", header="content-disposition") == ONE_CLICK[0]:
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes) and payload.strip() == ONE_CLICK[1].encode():
                    return True
    return False


def _confirm_page(action: str) -> str:
    safe = html.escape(action, quote=True)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=robots content=noindex><title>Unsubscribe</title></head><body>"
        "<h1>Unsubscribe</h1><p>Stop receiving these messages?</p>"
        f'<form method=post action="{safe}">'
        '<input type=hidden name="List-Unsubscribe" value="One-Click">'
        "<button type=submit>Unsubscribe</button></form></body></html>"
    )


DONE_PAGE = (
    "<!doctype html><html lang=en><head><meta charset=utf-8><title>Unsubscribed</title></head>"
    "<body><h1>You are unsubscribed</h1><p>You will not receive these messages any more.</p></body></html>"
)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    lake: Lake | None = None,
    empty_endpoint: bool = False,
) -> FastAPI:
    """The service; ``empty_endpoint`` adds ``GET /empty`` (the benchmark's ceiling)."""
    from aicmo import wiring

    cfg_all = settings or get_settings()
    cfg = cfg_all.tracking
    rt = Runtime(cfg_all, engine or wiring.engine(), lake or wiring.lake())
    signer = signer_from_settings(cfg)
    certificates = ses.CertificateCache(cfg.sns_origin_pattern)
    replays = ReplayGuard(ttl_s=max(cfg.timestamp_tolerance_s, ses.MAX_AGE_S) * 2)
    metrics = rt.metrics
    acknowledged: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(rt.start)
        try:
            yield
        finally:
            await run_in_threadpool(rt.stop)

    app = FastAPI(
        title="AICMO tracking",
        version="1",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        description="Opens, clicks, one-click unsubscribes and provider webhooks into the lake.",
    )
    app.state.runtime = rt

    async def durable(events: list[TrackedEvent], source: str) -> None:
        assert rt.commit is not None, "the service is not started"
        await rt.commit.append([e.to_bytes() for e in events])
        if source not in acknowledged:
            acknowledged[source] = metrics.acknowledged.labels(source)
        acknowledged[source].inc(len(events))

    async def apply_consent(events: list[TrackedEvent]) -> None:
        if not any(e.changes_consent for e in events):
            return
        try:
            metrics.consent_changes.inc(await run_in_threadpool(apply_events, rt.engine, events))
        except Exception:  # the event is durable; the flusher applies it when the store is back
            log.exception("consent change deferred to the flusher")

    def token_or_none(text: str, kind: str) -> TrackingToken | None:
        try:
            return signer.verify(text, kind)
        except TokenError:
            metrics.rejects.labels("bad_token").inc()
            return None

    def now() -> datetime:
        return datetime.now(UTC)

    def sent_at(token: TrackingToken) -> datetime | None:
        return datetime.fromtimestamp(token.issued_at, UTC) if token.issued_at else None

    not_found = Response(status_code=404)

    @app.get("/o/{token}.gif", summary="Open pixel", response_class=Response)
    async def open_pixel(token: str, request: Request) -> Response:
        tok = token_or_none(token, OPEN)
        if tok is None:
            return not_found
        ip = request.client.host if request.client else None
        machine, cls = classify_open(request.headers.get("user-agent"), ip)
        event = TrackedEvent(
            new_event_id("open"), now(), "open", tok.channel, "pixel", tok.campaign_id, tok.contact_id,
            is_machine=machine, user_agent_class=cls, sent_at=sent_at(tok),
        )  # fmt: skip
        await durable([event], "open")
        return Response(PIXEL, media_type="image/gif", headers=NO_STORE)

    @app.get("/c/{token}", summary="Click redirect", response_class=Response, status_code=302)
    async def click(token: str, request: Request) -> Response:
        tok = token_or_none(token, CLICK)
        if tok is None or tok.url is None:
            return not_found
        at = now()
        machine, cls = classify_click(
            request.headers.get("user-agent"), sent_at(tok), at, cfg.scanner_window_s
        )
        event = TrackedEvent(
            new_event_id("click"), at, "click", tok.channel, "redirect", tok.campaign_id, tok.contact_id,
            is_machine=machine, user_agent_class=cls, url=tok.url, sent_at=sent_at(tok),
        )  # fmt: skip
        await durable([event], "click")
        return RedirectResponse(tok.url, status_code=302, headers=NO_STORE)

    @app.get("/u/{token}", summary="Unsubscribe confirmation page", response_class=HTMLResponse)
    async def unsubscribe_page(token: str) -> Response:
        if token_or_none(token, UNSUBSCRIBE) is None:
            return not_found
        return HTMLResponse(_confirm_page(f"{cfg.base_url}/u/{token}"), headers=NO_STORE)

    @app.post(
        "/u/{token}",
        summary="RFC 8058 one-click unsubscribe",
        response_class=HTMLResponse,
        openapi_extra=FORM_BODY,
    )
    async def unsubscribe(token: str, request: Request) -> Response:
        tok = token_or_none(token, UNSUBSCRIBE)
        if tok is None:
            return not_found
        try:
            body = await read_body(request, cfg.body_cap_bytes)
        except Rejected as exc:
            metrics.rejects.labels(exc.reason).inc()
            return Response(status_code=exc.status)
        if not one_click_requested(body, request.headers.get("content-type", "")):
            metrics.rejects.labels("not_one_click").inc()
            return HTMLResponse("<!doctype html><p>Missing List-Unsubscribe=One-Click.</p>", status_code=400)
        event = TrackedEvent(
            new_event_id("unsubscribe"), now(), "unsubscribe", tok.channel, "one_click",
            tok.campaign_id, tok.contact_id,
        )  # fmt: skip
        await durable([event], "unsubscribe")
        await apply_consent([event])
        return HTMLResponse(DONE_PAGE, headers=NO_STORE)

    async def webhook(
        request: Request,
        source: str,
        handle: Callable[[WebhookRequest], tuple[list[TrackedEvent], str | None]],
        after: Callable[[WebhookRequest], Awaitable[None]] | None = None,
    ) -> Response:
        try:
            body = await read_body(request, cfg.body_cap_bytes)
            query = request.url.query
            wr = WebhookRequest(
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                url=f"{cfg.base_url}{request.url.path}" + (f"?{query}" if query else ""),
                content_type=request.headers.get("content-type", ""),
            )
            events, replay_key = await run_in_threadpool(handle, wr)
            if replay_key is not None and replays.seen(replay_key):
                metrics.rejects.labels("replay").inc()
                return JSONResponse({"status": "duplicate", "events": 0})
            await durable(events, source)
            if replay_key is not None:
                replays.record(replay_key)
            await apply_consent(events)
            if after is not None:
                await after(wr)
        except Rejected as exc:
            metrics.rejects.labels(exc.reason).inc()
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        return JSONResponse({"status": "accepted", "events": len(events)})

    providers = ProviderHandlers(cfg, certificates)

    def provider_endpoint(name: str) -> Callable[[Request], Awaitable[Response]]:
        handle = getattr(providers, name)

        async def endpoint(request: Request) -> Response:
            return await webhook(request, name, handle)

        return endpoint

    for name, (summary, body) in WEBHOOKS.items():
        app.add_api_route(
            f"/webhooks/{name}",
            provider_endpoint(name),
            methods=["POST"],
            summary=summary,
            openapi_extra=body,
            name=f"{name}_webhook",
        )

    @app.get("/healthz", summary="Liveness and spool depth")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "queue_depth": rt.spool.depth if rt.spool else 0}

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    if empty_endpoint:

        @app.get("/empty", include_in_schema=False)
        async def empty() -> Response:
            return Response(PIXEL, media_type="image/gif")

    app.add_middleware(_RequestCounter, metrics=metrics)
    return app
