"""The approval workflow and the check publishing makes before attaching assets to a campaign.

draft -> in_review -> approved | rejected (a comment is required) -> archived; a rejected asset
can be resubmitted for review, a draft archived. Every move appends who, what, when and why to
the asset's audit log in the same transaction as the status change.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aicmo.errors import InputError
from aicmo.models.media import AssetReview
from aicmo.storage.db import transaction
from aicmo.storage.media import get_asset, move_status, record_usage, statuses

ACTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("draft", "rejected"), "in_review"),
    "approve": (("in_review",), "approved"),
    "reject": (("in_review",), "rejected"),
    "archive": (("draft", "approved", "rejected"), "archived"),
}
"""action -> (statuses it may start from, status it leads to)."""


class NotAttachableError(InputError):
    """Publishing asked for assets that are not approved."""


def transition(
    engine: Engine, asset_id: int, action: str, actor: str, comment: str | None = None
) -> AssetReview:
    """Apply ``action`` to an asset as ``actor``; ``InputError`` names what is not allowed."""
    if action not in ACTIONS:
        raise InputError(f"unknown review action {action!r}; expected one of {', '.join(ACTIONS)}")
    if not actor.strip():
        raise InputError(f"{action}: say who is acting (--by)")
    comment = comment.strip() if comment else None
    if action == "reject" and not comment:
        raise InputError(f"reject asset {asset_id}: a comment saying why is required (--comment)")
    sources, target = ACTIONS[action]
    with transaction(engine) as session:
        asset = get_asset(session, asset_id)
        if asset is None:
            raise InputError(f"asset {asset_id} does not exist")
        if asset.status not in sources:
            raise InputError(
                f"cannot {action} asset {asset_id}: it is {asset.status}, "
                f"{action} applies to {' or '.join(sources)} assets"
            )
        return move_status(session, asset, target, action, actor.strip(), comment)


def _check(session: Session, asset_ids: list[int]) -> None:
    found = statuses(session, asset_ids)
    problems = [f"{i} does not exist" for i in asset_ids if i not in found]
    problems += [f"{i} is {found[i]}" for i in asset_ids if i in found and found[i] != "approved"]
    if problems:
        raise NotAttachableError(f"only approved assets can be attached: asset {'; asset '.join(problems)}")


def ensure_attachable(session_or_engine: Session | Engine, asset_ids: Iterable[int]) -> None:
    """Raise ``NotAttachableError`` naming each asset that is missing or not approved.

    Publishing calls this before it attaches creatives to a campaign or sends them; passing the
    publishing transaction's session makes the check part of that transaction.
    """
    ids = sorted({int(i) for i in asset_ids})
    if not ids:
        return
    if isinstance(session_or_engine, Session):
        _check(session_or_engine, ids)
        return
    with transaction(session_or_engine) as session:
        _check(session, ids)


def attach(engine: Engine, asset_id: int, campaign_id: int, channel: str) -> None:
    """Record that a campaign uses an approved asset on a channel (refuses any other asset)."""
    with transaction(engine) as session:
        _check(session, [asset_id])
        record_usage(session, asset_id, campaign_id, channel)
