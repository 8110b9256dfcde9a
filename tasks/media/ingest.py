"""Adding files to the library: probe each one, store its bytes by hash, insert the new assets.

Files are probed (type from content, limits, integrity, hashes) in a process pool when there are
enough of them; a refused file becomes one line in the report and the batch goes on. Bytes go to
the content-addressed store before their row is inserted (an orphaned object is harmless, a row
without its bytes is not); rows are inserted per chunk in one transaction each. Adding bytes that
are already stored returns the existing asset, whatever the file is called, adds the new tags and
fills in what the row lacks (the stored copy, dHash, kind, a library or owner).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.base import utcnow
from aicmo.progress import Advance, no_progress
from aicmo.settings import MediaSettings, get_settings
from aicmo.storage.db import transaction
from aicmo.storage.media import ContentStore, assets_by_sha, complete_asset, insert_assets
from aicmo.tasks.media.probe import Limits, Probe, Rejection, probe, probe_file

POOL_MIN_FILES = 64
CHUNK = 500


@dataclass
class IngestReport:
    """What an ingest did: new asset ids, the ids of bytes already stored, and the refused files."""

    added: list[int] = field(default_factory=list)
    existing: list[int] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    by_name: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """Counts and the refusal lines, for summaries and artifacts."""
        return {
            "added": len(self.added),
            "already_stored": len(self.existing),
            "rejected": len(self.rejected),
            "rejections": self.rejected,
        }


@dataclass(frozen=True)
class Labels:
    """What the caller says about the files: owner, library (collection) and tags."""

    owner: str | None = None
    library: str | None = None
    tags: tuple[str, ...] = ()


def limits_from(media: MediaSettings) -> Limits:
    """The probe limits of the media settings."""
    return Limits(media.max_bytes, media.max_image_pixels, tuple(f.upper() for f in media.accepted_formats))


def content_store(media: MediaSettings | None = None) -> ContentStore:
    """The configured content-addressed store."""
    return ContentStore(get_settings().resolved_media_store if media is None else _store_root(media))


def _store_root(media: MediaSettings) -> str:
    return media.store_url or str(get_settings().home / "media")


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files of ``paths``, folders walked recursively (hidden entries skipped), in a stable order."""
    files: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        elif p.exists():
            files.append(p)
        else:
            raise InputError(f"{p}: no such file or folder")
    return files


def _probe_all(files: Sequence[Path], limits: Limits, workers: int) -> Iterator[Probe | Rejection]:
    fn = partial(probe_file, limits=limits)
    names = [str(f) for f in files]
    if workers > 1 and len(files) >= POOL_MIN_FILES:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            yield from pool.map(fn, names, chunksize=16)
    else:
        yield from map(fn, names)


def _row(p: Probe, location: str, labels: Labels, source: str) -> dict[str, Any]:
    now = utcnow()
    return {
        "sha256": p.sha256,
        "name": p.name[:255],
        "path": location,
        "mime_type": p.mime_type,
        "kind": p.kind,
        "width": p.width,
        "height": p.height,
        "frames": p.frames,
        "size_bytes": p.size_bytes,
        "phash": p.phash,
        "dhash": p.dhash,
        "status": "draft",
        "tags": sorted(set(labels.tags)),
        "library": labels.library,
        "owner": labels.owner,
        "source": source[:2048],
        "created_at": now,
        "updated_at": now,
    }


class _Batch:
    """Accepted files waiting for their chunk's transaction."""

    def __init__(self, engine: Engine, store: ContentStore, labels: Labels, report: IngestReport) -> None:
        self.engine, self.store, self.labels, self.report = engine, store, labels, report
        self.pending: dict[str, tuple[Probe, bytes, str]] = {}
        self.repeats: list[tuple[str, str]] = []  # (source, sha) of bytes already pending

    def add(self, p: Probe, data: bytes, source: str) -> None:
        if p.sha256 in self.pending:  # the same bytes twice in one chunk
            self.repeats.append((source, p.sha256))
            return
        self.pending[p.sha256] = (p, data, source)
        if len(self.pending) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        with transaction(self.engine) as session:
            stored = assets_by_sha(session, self.pending)
            new_rows = []
            for sha, (p, data, source) in self.pending.items():
                asset = stored.get(sha)
                if asset is None:
                    new_rows.append(_row(p, self.store.put(sha, data), self.labels, source))
                    continue
                self.report.existing.append(asset.id)
                self.report.by_name[source] = asset.id
                fill: dict[str, Any] = {}
                if not self.store.exists(sha) or asset.path != self.store.location(sha):
                    fill["path"] = self.store.put(sha, data)
                if asset.dhash is None and p.dhash is not None:
                    fill.update(phash=p.phash, dhash=p.dhash, kind=p.kind, frames=p.frames)
                if self.labels.library and asset.library is None:
                    fill["library"] = self.labels.library
                if self.labels.owner and asset.owner is None:
                    fill["owner"] = self.labels.owner
                if not set(self.labels.tags) <= set(asset.tags or []):
                    fill["tags"] = sorted(set(asset.tags or []) | set(self.labels.tags))
                if fill:
                    complete_asset(session, asset.id, fill)
            ids = insert_assets(session, new_rows)
        for row in new_rows:
            self.report.added.append(ids[row["sha256"]])
            self.report.by_name[row["source"]] = ids[row["sha256"]]
        for source, sha in self.repeats:
            asset_id = self.report.by_name[self.pending[sha][2]]
            self.report.by_name[source] = asset_id
            self.report.existing.append(asset_id)
        self.pending.clear()
        self.repeats.clear()


def ingest_paths(
    engine: Engine,
    paths: Iterable[str | Path],
    labels: Labels = Labels(),
    *,
    media: MediaSettings | None = None,
    advance: Advance = no_progress,
) -> IngestReport:
    """Add files and folders to the library; refused files are reported, the rest go in."""
    media = media or get_settings().media
    store = ContentStore(_store_root(media))
    files = expand(paths)
    report = IngestReport()
    batch = _Batch(engine, store, labels, report)
    for path, result in zip(files, _probe_all(files, limits_from(media), media.workers), strict=True):
        advance(1)
        if isinstance(result, Rejection):
            report.rejected.append(str(result))
            continue
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != result.sha256:
            report.rejected.append(f"{path}: changed while being added; add it again")
            continue
        batch.add(result, data, str(path))
    batch.flush()
    return report


def ingest_bytes(
    engine: Engine,
    data: bytes,
    name: str,
    source: str,
    labels: Labels = Labels(),
    *,
    media: MediaSettings | None = None,
) -> IngestReport:
    """Add one file's bytes (a download); refused bytes are reported like a refused file."""
    media = media or get_settings().media
    report = IngestReport()
    result = probe(data, name, limits_from(media))
    if isinstance(result, Rejection):
        report.rejected.append(f"{source}: {result.reason}")
        return report
    batch = _Batch(engine, ContentStore(_store_root(media)), labels, report)
    batch.add(result, data, source)
    batch.flush()
    return report
