"""The media library's storage: a content-addressed byte store and the SQL queries of phase 4.

Bytes are kept under ``<root>/objects/ab/cd/<sha256>`` (the root a local path or any fsspec URL),
written to a temporary name and renamed, so a killed write never leaves half a file under a hash.
Every query of the phase (assets, usage, reviews, variants, suggestions) lives here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from aicmo.models.base import utcnow
from aicmo.models.media import Asset, AssetReview, AssetSuggestion, AssetUsage, AssetVariant
from aicmo.models.publishing import Campaign
from aicmo.storage.fsroot import FsRoot
from aicmo.storage.upsert import bulk_upsert


class ContentStore(FsRoot):
    """Bytes addressed by their SHA-256 under a local path or fsspec URL."""

    def key_path(self, key: str) -> str:
        """Where the object ``key`` (a hex digest, or digest + suffix for variants) lives."""
        return f"{self._root_path}/objects/{key[:2]}/{key[2:4]}/{key}"

    def location(self, key: str) -> str:
        """The object's path or URL, as recorded in the store."""
        return self._url(self.key_path(key))

    def exists(self, key: str) -> bool:
        """Whether the object is stored."""
        return bool(self.fs.exists(self.key_path(key)))

    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key`` (atomic; a no-op when present); returns its location."""
        path = self.key_path(key)
        if not self.fs.exists(path):
            folder = path.rsplit("/", 1)[0]
            self.fs.makedirs(folder, exist_ok=True)
            tmp = f"{folder}/.{uuid.uuid4().hex}.inprogress"
            try:
                with self.fs.open(tmp, "wb") as fh:
                    fh.write(data)
                self.fs.mv(tmp, path)
            finally:
                if self.fs.exists(tmp):
                    self.fs.rm(tmp)
        return self._url(path)

    def get(self, key: str) -> bytes:
        """The object's bytes."""
        with self.fs.open(self.key_path(key), "rb") as fh:
            data: bytes = fh.read()
        return data


# ---- assets ------------------------------------------------------------------------------------
def assets_by_sha(session: Session, digests: Iterable[str]) -> dict[str, Asset]:
    """The stored assets among ``digests``, by SHA-256."""
    wanted = list(set(digests))
    found: dict[str, Asset] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        found.update({a.sha256: a for a in session.scalars(select(Asset).where(Asset.sha256.in_(chunk)))})
    return found


def insert_assets(session: Session, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert new assets (a concurrent insert of the same bytes is left alone); ids by SHA-256."""
    if rows:
        bulk_upsert(session, Asset.__table__, rows, ("sha256",), [])
    return {sha: a.id for sha, a in assets_by_sha(session, [r["sha256"] for r in rows]).items()}


def complete_asset(session: Session, asset_id: int, values: dict[str, Any]) -> None:
    """Fill in columns of an asset stored before they were known (store path, hashes, kind)."""
    session.execute(update(Asset).where(Asset.id == asset_id).values(**values, updated_at=utcnow()))


def get_asset(session: Session, asset_id: int) -> Asset | None:
    """One asset by id."""
    return session.get(Asset, asset_id)


def get_assets(session: Session, asset_ids: Iterable[int]) -> dict[int, Asset]:
    """Assets by id (missing ids are absent)."""
    ids = list(set(asset_ids))
    return {a.id: a for a in session.scalars(select(Asset).where(Asset.id.in_(ids)))} if ids else {}


@dataclass(frozen=True)
class AssetFilter:
    """What ``list_assets`` keeps: every given criterion must hold."""

    tag: str | None = None
    library: str | None = None
    kind: str | None = None
    status: str | None = None
    min_bytes: int | None = None
    max_bytes: int | None = None


def list_assets(
    session: Session, where: AssetFilter = AssetFilter(), limit: int | None = None
) -> list[Asset]:
    """Assets matching ``where``, oldest first."""
    query = select(Asset).order_by(Asset.id)
    if where.library is not None:
        query = query.where(Asset.library == where.library)
    if where.kind is not None:
        query = query.where(Asset.kind == where.kind)
    if where.status is not None:
        query = query.where(Asset.status == where.status)
    if where.min_bytes is not None:
        query = query.where(Asset.size_bytes >= where.min_bytes)
    if where.max_bytes is not None:
        query = query.where(Asset.size_bytes <= where.max_bytes)
    assets = list(session.scalars(query))
    if where.tag is not None:  # tags are a JSON list: filtered here, the same on SQLite and PostgreSQL
        assets = [a for a in assets if where.tag in (a.tags or [])]
    return assets[:limit] if limit is not None else assets


def asset_count(session: Session) -> int:
    """How many assets the library holds."""
    return int(session.scalar(select(func.count()).select_from(Asset)) or 0)


def set_tags(session: Session, asset_id: int, tags: list[str]) -> None:
    """Replace an asset's tags."""
    session.execute(update(Asset).where(Asset.id == asset_id).values(tags=tags, updated_at=utcnow()))


def image_hashes(session: Session) -> list[tuple[int, str, str | None]]:
    """(id, pHash, dHash) of every hashed, non-archived asset, by id."""
    query = (
        select(Asset.id, Asset.phash, Asset.dhash)
        .where(Asset.phash.is_not(None), Asset.status != "archived")
        .order_by(Asset.id)
    )
    return [(int(i), str(p), d) for i, p, d in session.execute(query).all()]


def statuses(session: Session, asset_ids: Iterable[int]) -> dict[int, str]:
    """Status of each stored asset among ``asset_ids``."""
    ids = list(set(asset_ids))
    query = select(Asset.id, Asset.status).where(Asset.id.in_(ids))
    return {int(i): str(s) for i, s in session.execute(query).all()}


# ---- approval ----------------------------------------------------------------------------------
def move_status(
    session: Session, asset: Asset, to_status: str, action: str, actor: str, comment: str | None
) -> AssetReview:
    """Set the asset's status and append the audit row, in the caller's transaction."""
    review = AssetReview(
        asset_id=asset.id,
        action=action,
        actor=actor,
        from_status=asset.status,
        to_status=to_status,
        comment=comment,
        at=utcnow(),
    )
    asset.status = to_status
    asset.updated_at = review.at
    session.add(review)
    session.flush()
    return review


def reviews(session: Session, asset_id: int) -> list[AssetReview]:
    """An asset's audit log, oldest first."""
    query = select(AssetReview).where(AssetReview.asset_id == asset_id).order_by(AssetReview.id)
    return list(session.scalars(query))


# ---- usage -------------------------------------------------------------------------------------
def record_usage(session: Session, asset_id: int, campaign_id: int, channel: str) -> None:
    """Record that a campaign uses an asset on a channel (idempotent)."""
    row = {"asset_id": asset_id, "campaign_id": campaign_id, "channel": channel, "created_at": utcnow()}
    bulk_upsert(session, AssetUsage.__table__, [row], ("asset_id", "campaign_id", "channel"), [])


def usage(session: Session, asset_ids: Iterable[int] | None = None) -> list[dict[str, Any]]:
    """Rows of (asset_id, campaign_id, campaign, channel) from the publishing ledger."""
    query = (
        select(AssetUsage.asset_id, AssetUsage.campaign_id, Campaign.name, AssetUsage.channel)
        .join(Campaign, Campaign.id == AssetUsage.campaign_id)
        .order_by(AssetUsage.asset_id, AssetUsage.campaign_id, AssetUsage.channel)
    )
    if asset_ids is not None:
        query = query.where(AssetUsage.asset_id.in_(list(set(asset_ids))))
    return [
        {"asset_id": int(a), "campaign_id": int(c), "campaign": str(n), "channel": str(ch)}
        for a, c, n, ch in session.execute(query).all()
    ]


def usage_counts(session: Session) -> dict[int, int]:
    """How many (campaign, channel) uses each used asset has."""
    query = select(AssetUsage.asset_id, func.count()).group_by(AssetUsage.asset_id)
    return {int(a): int(n) for a, n in session.execute(query).all()}


# ---- variants ----------------------------------------------------------------------------------
def variants_by_key(session: Session, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], AssetVariant]:
    """Cached variants among (source SHA-256, spec key) pairs."""
    wanted = set(keys)
    shas = list({sha for sha, _ in wanted})
    found: dict[tuple[str, str], AssetVariant] = {}
    for start in range(0, len(shas), 500):
        query = select(AssetVariant).where(AssetVariant.source_sha256.in_(shas[start : start + 500]))
        for v in session.scalars(query):
            if (v.source_sha256, v.spec_key) in wanted:
                found[(v.source_sha256, v.spec_key)] = v
    return found


def insert_variants(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Record rendered variants (one already recorded for the same source and spec is kept)."""
    bulk_upsert(session, AssetVariant.__table__, rows, ("source_sha256", "spec_key"), [])


def variants_of(session: Session, asset_id: int) -> list[AssetVariant]:
    """An asset's variants."""
    query = select(AssetVariant).where(AssetVariant.source_asset_id == asset_id).order_by(AssetVariant.id)
    return list(session.scalars(query))


# ---- suggestions -------------------------------------------------------------------------------
def write_suggestions(session: Session, run_at: datetime, rows: Sequence[dict[str, Any]]) -> int:
    """Store one run's suggestions, replacing a run with the same timestamp."""
    session.execute(delete(AssetSuggestion).where(AssetSuggestion.run_at == run_at))
    session.add_all([AssetSuggestion(run_at=run_at, **row) for row in rows])
    session.flush()
    return len(rows)


def latest_suggestions(session: Session) -> list[AssetSuggestion]:
    """The suggestions of the latest run."""
    last = session.scalar(select(func.max(AssetSuggestion.run_at)))
    if last is None:
        return []
    query = select(AssetSuggestion).where(AssetSuggestion.run_at == last).order_by(AssetSuggestion.id)
    return list(session.scalars(query))
