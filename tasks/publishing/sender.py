"""The sender loop: claim a batch of ledger rows -> render -> hand to the channel -> mark.

One run of :func:`send_campaign` works a campaign until every ledger row is settled, the
campaign is paused or cancelled (checked at least every ``poll_s`` seconds, so a pause stops
further sends within seconds), or a channel halts it (refused credentials). Any number of runs
may work one campaign at once: each claims its own rows, and they share the campaign's rate
through slots reserved from the store (``tasks/publishing/pacing.py``). Per window of ``handover_window``
messages the rows are marked *handed* (committed) before they go to the channel and settled
after, so a run killed at any point leaves at most one window ``unknown`` and never resends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.publishing import FAILED_PERMANENT, PENDING, SENT, SKIPPED, UNKNOWN
from aicmo.processes import pid_alive
from aicmo.settings import PublishingSettings
from aicmo.storage.db import transaction
from aicmo.storage.experiments import experiment_of
from aicmo.storage.lake import Lake
from aicmo.storage.publishing import (
    AssetFile,
    LedgerRow,
    Outcome,
    Recipient,
    SettledRow,
    approved_assets,
    campaign_by_id,
    campaign_status,
    claim,
    counts,
    drop_push_endpoints,
    mark,
    mark_evented,
    next_retry_at,
    push_endpoints,
    reap,
    recipients,
    set_status,
    unevented,
    unknown_rows,
    unsettled,
    write_events,
)
from aicmo.tasks.crm.suppression import suppress
from aicmo.tasks.publishing.channels.base import Channel, ChannelHalt, Envelope, Paced, Verdict
from aicmo.tasks.publishing.definition import CampaignDefinition, definition_of
from aicmo.tasks.publishing.eligibility import e164, eligibility_check
from aicmo.tasks.publishing.links import LinkSigner
from aicmo.tasks.publishing.pacing import CampaignPace
from aicmo.tasks.publishing.templates import TemplateProblem, render_message, utm_params

ChannelFactory = Callable[[str, CampaignDefinition], Channel]
"""Builds the adapter of a channel for a campaign (the composition root supplies it)."""

_EVENT_TYPE = {SENT: "send", SKIPPED: "skip", FAILED_PERMANENT: "fail", UNKNOWN: "unknown"}
_HOST = socket.gethostname()
_LONG_WAIT_S = 300.0
_UNSUBSCRIBE_LINKED = frozenset({"email"})  # channels whose message carries the unsubscribe link
_NOBODY = Recipient(0, "", None, None, None, None, None, None, None)  # per-campaign messages (social)


def new_worker_id() -> str:
    """``host:pid:random``: unique per run, and tells the reaper whose claims a dead process left."""
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def worker_is_dead(worker: str) -> bool:
    """Whether the worker was a process on this host that no longer exists."""
    host, _, rest = worker.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    return pid != os.getpid() and not pid_alive(pid)


@dataclass
class RunReport:
    """What one run did, and where the campaign stands."""

    campaign_id: int
    campaign: str
    worker: str
    outcomes: dict[str, int] = field(default_factory=dict)  # this run's verdicts by state
    skipped: dict[str, int] = field(default_factory=dict)  # this run's skips by reason
    reaped: dict[str, int] = field(default_factory=dict)
    ledger: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, channel) -> rows, at the end
    unknown: list[tuple[int, int | None, str, str | None]] = field(default_factory=list)
    status: str = ""
    halted: str | None = None
    events_written: int = 0

    @property
    def sent(self) -> int:
        """Messages this run had accepted."""
        return self.outcomes.get(SENT, 0)

    @property
    def finished(self) -> bool:
        """Every row of the campaign is settled."""
        return self.status == "sent"


def _envelope_address(
    channel: str,
    row: LedgerRow,
    definition: CampaignDefinition,
    contact: object | None,
    endpoints: Mapping[int, list[tuple[str, dict[str, str]]]],
    webhook_url: str,
) -> tuple[str, dict[str, str]] | None:
    if channel == "social":
        return "", {}
    if channel == "webhook":
        return webhook_url, {}
    if contact is None:
        return None
    if channel == "email":
        return str(getattr(contact, "email", "")), {}
    if channel == "sms":
        number = e164(getattr(contact, "phone", None), getattr(contact, "country", None) or None)
        return (number, {}) if number else None
    found = endpoints.get(row.contact_id or -1)
    return found[-1] if found else None


class CampaignSender:
    """Works one campaign's ledger with the given channels; see the module docstring."""

    def __init__(
        self,
        engine: Engine,
        campaign_id: int,
        *,
        settings: PublishingSettings,
        channel_factory: ChannelFactory,
        links: LinkSigner,
        lake: Lake | None = None,
        worker: str | None = None,
        poll_s: float = 0.5,
        batch: int | None = None,
        window: int | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.engine = engine
        self.campaign_id = campaign_id
        self.settings = settings
        self.channel_factory = channel_factory
        self.links = links
        self.lake = lake
        self.worker = worker or new_worker_id()
        self.poll_s = poll_s
        self.batch = batch or settings.claim_batch
        self.window = window or settings.handover_window
        self.on_progress = on_progress
        self._channels: dict[str, Channel] = {}
        self._last_poll = 0.0
        self._last_flush = time.monotonic()
        self._stopped = False
        self._effects: list[tuple[str, Envelope, Verdict]] = []
        self._eligible = eligibility_check(settings)
        self._messages: dict[tuple[str, int | None], Any] = {}  # (channel, variant) -> typed message
        with transaction(engine) as session:
            campaign = campaign_by_id(session, campaign_id)
            self.name = campaign.name
            self.definition = definition_of(campaign)
            self.assets, _ = approved_assets(session, self.definition.assets)
            self.variant_assets: dict[int, AssetFile] = {}
            if self.definition.experiment is not None:
                wanted = {i: v.asset for i, v in enumerate(self.definition.experiment.variants) if v.asset}
                found = {a.id: a for a in approved_assets(session, list(set(wanted.values())))[0]}
                self.variant_assets = {i: found[a] for i, a in wanted.items() if a in found}
        self.report = RunReport(campaign_id, self.name, self.worker)
        self._webhook_url = (
            str(self.definition.message("webhook").url) if "webhook" in self.definition.channels else ""
        )

    # ---- the loop ---------------------------------------------------------------------------
    async def run(self, *, wait: bool = True) -> RunReport:
        """Send until the campaign is settled, paused, cancelled or halted (``wait``: sit out retries)."""
        self.report.reaped = reap(self.engine, self.campaign_id, is_dead=worker_is_dead)
        try:
            while True:
                rows = claim(
                    self.engine,
                    self.campaign_id,
                    self.worker,
                    limit=self.batch,
                    lease_s=self.settings.lease_s,
                    check=self._check,
                )
                if rows:
                    await self._work(rows)
                    if self._stopped:
                        break
                    continue
                if unsettled(self.engine, self.campaign_id) == 0:
                    self._finish()
                    break
                if campaign_status(self.engine, self.campaign_id) != "sending" or not wait:
                    break
                due = next_retry_at(self.engine, self.campaign_id)
                if due is not None and (due - utcnow()).total_seconds() > _LONG_WAIT_S:
                    break  # rows held back for hours (a variant's send time): a later run sends them
                await asyncio.sleep(self._idle_s())
                reap(self.engine, self.campaign_id, is_dead=worker_is_dead)
        except BaseException:
            # A crash of this run (not of the process): free its claims now rather than at lease
            # expiry; rows already handed over become unknown, as after a kill.
            with contextlib.suppress(Exception):
                reap(self.engine, self.campaign_id, is_dead=lambda worker: worker == self.worker)
            raise
        finally:
            for channel in self._channels.values():
                with contextlib.suppress(Exception):  # best effort; the ledger is already right
                    await channel.close()
            self._flush_events(force=True)
            self._summarize()
        return self.report

    def _check(self, session: Session, rows: list[LedgerRow]) -> dict[int, str]:
        skipped = self._eligible(session, rows)
        for reason in skipped.values():
            self.report.skipped[reason] = self.report.skipped.get(reason, 0) + 1
        self.report.outcomes[SKIPPED] = self.report.outcomes.get(SKIPPED, 0) + len(skipped)
        return skipped

    def _idle_s(self) -> float:
        retry = next_retry_at(self.engine, self.campaign_id)
        if retry is None:
            return self.poll_s
        return max(0.05, min(self.poll_s, (retry - utcnow()).total_seconds()))

    def _finish(self) -> None:
        """Every row is settled: the campaign is sent, or, in an experiment's test phase, testing."""
        with transaction(self.engine) as session:
            if campaign_by_id(session, self.campaign_id).status == "sending":
                experiment = experiment_of(session, self.campaign_id)
                testing = experiment is not None and experiment.status == "testing"
                set_status(session, self.campaign_id, "testing" if testing else "sent")

    async def _channel(self, name: str) -> Channel:
        if name not in self._channels:
            channel = self.channel_factory(name, self.definition)
            if isinstance(channel, Paced):
                # One rate for the campaign, however many runs send it: slots from the store.
                channel.pacer = CampaignPace(self.engine, self.campaign_id, name, channel.pacer.rate)
            await channel.open()
            self._channels[name] = channel
        return self._channels[name]

    def _still_sending(self) -> bool:
        now = time.monotonic()
        if now - self._last_poll < self.poll_s:
            return True
        self._last_poll = now
        return campaign_status(self.engine, self.campaign_id) == "sending"

    async def _work(self, rows: list[LedgerRow]) -> None:
        """Render and send one claimed batch, window by window; release what is left on a stop.

        Two stages overlap: while one window is on the wire, the next one is rendered (yielding
        to the event loop between messages, so the channel's replies are read meanwhile). A
        window is marked handed right before it goes out, in the commit that settles the window
        before it, so a kill still leaves at most one window unknown.
        """
        contacts, endpoints = self._load(rows)
        channels: dict[str, list[LedgerRow]] = {}
        for row in rows:
            channels.setdefault(row.channel, []).append(row)
        unsettled: dict[int, None] = dict.fromkeys(r.id for r in rows)  # ordered set of row ids
        for channel_name, channel_rows in channels.items():
            todo = iter(channel_rows)
            skips: list[Outcome] = []
            done: list[Outcome] = []  # the last window's outcomes: settled as the next one is handed
            current = await self._render(todo, contacts, endpoints, skips)
            while current:
                if self._stopped or not self._still_sending():
                    self._stopped = True
                    break
                held = self._settle_some(done + skips, unsettled, hand=[e.row_id for e in current])
                done, skips = [], []
                if held != len(current):
                    # Some rows were reaped under us (a stall past the lease): hand nothing over,
                    # give back what is still ours, and let the next claim sort it out.
                    self._stopped = True
                    break
                sending = asyncio.ensure_future(self._send_window(channel_name, current))
                try:
                    upcoming = await self._render(todo, contacts, endpoints, skips, while_running=sending)
                except BaseException:  # the window's verdicts are recorded even if rendering failed
                    outcomes, _ = await sending
                    self._settle_some(outcomes + skips, unsettled)
                    raise
                done, halt = await sending
                if halt is not None:
                    self._settle_some(done + skips, unsettled)
                    done, skips = [], []
                    self._halt(halt)
                    break
                current = upcoming
            self._settle_some(done + skips, unsettled)
            if self._stopped:
                break
        # Whatever was not settled (a stop, a halt, reaped rows) goes back to the queue untouched.
        self._settle([Outcome(rid, PENDING) for rid in unsettled])
        self._flush_events()

    async def _render(
        self,
        todo: Iterator[LedgerRow],
        contacts: Mapping[int, object],
        endpoints: Mapping[int, list[tuple[str, dict[str, str]]]],
        skips: list[Outcome],
        *,
        while_running: asyncio.Future[Any] | None = None,
    ) -> list[Envelope]:
        """Up to one window of envelopes from ``todo``; rows that cannot be rendered go to ``skips``."""
        window: list[Envelope] = []
        for row in todo:
            contact = contacts.get(row.contact_id) if row.contact_id is not None else None
            address = _envelope_address(
                row.channel, row, self.definition, contact, endpoints, self._webhook_url
            )
            if address is None:
                skips.append(Outcome(row.id, SKIPPED, reason="no_address"))
            else:
                try:
                    window.append(self._envelope(row, contact, *address))
                except TemplateProblem as exc:
                    skips.append(Outcome(row.id, SKIPPED, reason="template_error", error=str(exc)))
            if while_running is not None and not while_running.done():
                await asyncio.sleep(0)  # let the window on the wire read its replies
            if len(window) >= self.window:
                break
        return window

    async def _send_window(
        self, channel_name: str, window: list[Envelope]
    ) -> tuple[list[Outcome], str | None]:
        """The window's outcomes, and the halt message if the channel stopped the campaign."""
        try:
            channel = await self._channel(channel_name)
            verdicts = await channel.send(window)
        except ChannelHalt as halt:
            verdicts = halt.verdicts or [Verdict.not_tried("halted") for _ in window]
            return self._outcomes(channel_name, window, verdicts), str(halt)
        return self._outcomes(channel_name, window, verdicts), None

    def _settle_some(
        self, outcomes: list[Outcome], unsettled: dict[int, None], *, hand: list[int] | None = None
    ) -> int:
        """Settle (or release) ``outcomes``, strike them off the batch's rows still to settle, and
        mark ``hand`` handed in the same transaction; returns how many of ``hand`` are still ours."""
        held = self._settle(outcomes, hand=hand)
        for o in outcomes:
            unsettled.pop(o.row_id, None)
        return held

    def _load(
        self, rows: list[LedgerRow]
    ) -> tuple[dict[int, object], dict[int, list[tuple[str, dict[str, str]]]]]:
        ids = [r.contact_id for r in rows if r.contact_id is not None]
        endpoints: dict[int, list[tuple[str, dict[str, str]]]] = {}
        with transaction(self.engine) as session:
            contacts: dict[int, object] = dict(recipients(session, ids))
            for kind, channel in (("fcm", "push"), ("webpush", "webpush")):
                wanted = [r.contact_id for r in rows if r.channel == channel and r.contact_id is not None]
                if wanted:
                    for cid, eps in push_endpoints(session, wanted, kind).items():
                        endpoints.setdefault(cid, []).extend(
                            (e.token, {"p256dh": e.p256dh or "", "auth": e.auth or ""}) for e in eps
                        )
        return contacts, endpoints

    def _envelope(
        self, row: LedgerRow, contact: object | None, address: str, extra: dict[str, str]
    ) -> Envelope:
        cid = row.contact_id
        link = None
        if cid is not None and row.channel in ("email", "push", "webpush"):
            link = lambda url, _c=cid, _ch=row.channel: self.links.click_url(self.campaign_id, _c, _ch, url)  # noqa: E731
        recipient = contact if isinstance(contact, Recipient) else _NOBODY
        key = (row.channel, row.variant_id)
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = self.definition.message(row.channel, row.variant_id)
        rendered = render_message(
            self.definition, row.channel, recipient, link=link, variant=row.variant_id, message=message
        )
        return Envelope(
            row_id=row.id,
            campaign_id=self.campaign_id,
            contact_id=cid,
            idempotency_key=row.idempotency_key,
            address=address,
            message=rendered,
            unsubscribe_url=self.links.unsubscribe_url(self.campaign_id, cid, row.channel)
            if (cid is not None and row.channel in _UNSUBSCRIBE_LINKED)
            else "",
            open_url=self.links.open_url(self.campaign_id, cid, row.channel)
            if (cid is not None and row.channel == "email")
            else "",
            extra=extra,
            assets=self._assets_of(row) if row.channel in ("email", "social") else (),
        )

    def _assets_of(self, row: LedgerRow) -> tuple[AssetFile, ...]:
        """The campaign's assets, or the row's variant's own asset on the experiment's channel."""
        own = self.variant_assets.get(row.variant_id) if row.variant_id is not None else None
        if own is not None and row.channel == self.definition.experiment_channel:
            return (own,)
        return tuple(self.assets)

    def _outcomes(self, channel: str, window: list[Envelope], verdicts: list[Verdict]) -> list[Outcome]:
        if len(verdicts) != len(window):
            raise RuntimeError(
                f"{channel} channel returned {len(verdicts)} verdicts for {len(window)} messages"
            )
        self._effects.extend(
            (channel, e, v) for e, v in zip(window, verdicts, strict=True) if v.suppress or v.drop_endpoint
        )
        return [
            Outcome(e.row_id, v.state, v.provider_message_id, v.error, v.reason, v.retry_after_s)
            for e, v in zip(window, verdicts, strict=True)
        ]

    def _settle(self, outcomes: list[Outcome], *, hand: list[int] | None = None) -> int:
        if not outcomes and not hand:
            return 0
        effects, self._effects = self._effects, []

        def side_effects(session: Session) -> None:
            for channel, envelope, verdict in effects:
                if verdict.suppress and channel in ("email", "sms"):
                    reason = "sms_stop" if channel == "sms" else "hard_bounce"
                    suppress(session, envelope.address, channel, reason, source=channel)
                if verdict.drop_endpoint:
                    drop_push_endpoints(
                        session, "fcm" if channel == "push" else "webpush", [envelope.address]
                    )

        held = mark(
            self.engine,
            outcomes,
            self.worker,
            max_attempts=self.settings.max_attempts,
            backoff_s=self.settings.retry_backoff_s,
            then=side_effects if effects else None,
            hand=hand or (),
            lease_s=self.settings.lease_s,
        )
        for o in outcomes:
            if o.state == PENDING:
                continue
            self.report.outcomes[o.state] = self.report.outcomes.get(o.state, 0) + 1
            if o.state == SKIPPED and o.reason:
                self.report.skipped[o.reason] = self.report.skipped.get(o.reason, 0) + 1
        if self.on_progress is not None and outcomes:
            self.on_progress(sum(1 for o in outcomes if o.state != PENDING))
        return held

    def _halt(self, message: str) -> None:
        self._stopped = True
        self.report.halted = message
        with transaction(self.engine) as session:
            set_status(session, self.campaign_id, "paused", message)

    # ---- events and the summary ---------------------------------------------------------------
    def _flush_events(self, *, force: bool = False) -> None:
        if self.lake is None:
            return
        if not force and time.monotonic() - self._last_flush < 5.0:
            return
        self._last_flush = time.monotonic()
        while True:
            with transaction(self.engine) as session:
                rows = unevented(session, self.campaign_id)
            if not rows:
                return
            self.report.events_written += write_events(self.lake, self._events(rows))
            mark_evented(self.engine, [r.id for r in rows])
            if len(rows) < 50_000:
                return

    def _events(self, rows: list[SettledRow]) -> pl.DataFrame:
        asset_id = self.assets[0].id if self.assets else None
        utm = {ch: utm_params(self.definition.utm, ch, self.name) for ch in self.definition.channels}
        return pl.DataFrame(
            {
                "event_id": [f"{r.idempotency_key[:32]}:{_EVENT_TYPE[r.state]}" for r in rows],
                "ts": [r.at for r in rows],
                "contact_id": [r.contact_id for r in rows],
                "campaign_id": [r.campaign_id for r in rows],
                "channel": [r.channel for r in rows],
                "type": [_EVENT_TYPE[r.state] for r in rows],
                "asset_id": [self._event_asset(r, asset_id) for r in rows],
                "utm_source": [utm[r.channel]["utm_source"] for r in rows],
                "utm_medium": [utm[r.channel]["utm_medium"] for r in rows],
                "utm_campaign": [utm[r.channel]["utm_campaign"] for r in rows],
                "utm_content": [utm[r.channel].get("utm_content") for r in rows],
                "variant_id": [r.variant_id for r in rows],
                "reason": [r.reason for r in rows],
            },
            schema_overrides={
                "ts": pl.Datetime("us", "UTC"),
                "contact_id": pl.Int64,
                "asset_id": pl.Int64,
                "variant_id": pl.Int64,
            },
        )

    def _event_asset(self, row: SettledRow, default: int | None) -> int | None:
        own = self.variant_assets.get(row.variant_id) if row.variant_id is not None else None
        return own.id if own is not None and row.channel == self.definition.experiment_channel else default

    def _summarize(self) -> None:
        with transaction(self.engine) as session:
            self.report.ledger = counts(session, self.campaign_id)
            self.report.unknown = unknown_rows(session, self.campaign_id)
            self.report.status = campaign_by_id(session, self.campaign_id).status


def send_campaign(
    engine: Engine,
    campaign_id: int,
    *,
    settings: PublishingSettings,
    links: LinkSigner,
    channel_factory: ChannelFactory | None = None,
    lake: Lake | None = None,
    wait: bool = True,
    **options: object,
) -> RunReport:
    """Run a sender on a campaign to completion (or pause/halt) in a fresh event loop.

    ``channel_factory`` defaults to the real adapters configured by ``settings``.
    """
    if channel_factory is None:
        from aicmo.tasks.publishing.channels.registry import channel_factory as real_channels

        channel_factory = real_channels(settings)
    sender = CampaignSender(
        engine,
        campaign_id,
        settings=settings,
        channel_factory=channel_factory,
        links=links,
        lake=lake,
        **options,  # type: ignore[arg-type]
    )
    return asyncio.run(sender.run(wait=wait))
