"""Renditions of image assets per channel spec: a thumbnail, responsive widths, WebP/AVIF/JPEG.

A variant is identified by its source's SHA-256 and its spec key (``w640.webp.q80``), so the same
source rendered with the same spec is never rendered twice, whatever asset row or channel asks;
the bytes go to the content store under ``<source sha>.<spec key>`` and a row links the variant
to its source asset. Rendering runs in a process pool (Pillow releases the GIL only in parts).
AVIF is used when this Pillow build can encode it, else the channel gets WebP.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from PIL import Image, ImageOps, features
from sqlalchemy import Engine

from aicmo.errors import InputError
from aicmo.models.media import AssetVariant
from aicmo.settings import ChannelSpec, MediaSettings
from aicmo.storage.db import transaction
from aicmo.storage.media import ContentStore, get_assets, insert_variants, variants_by_key, variants_of

MIME = {"webp": "image/webp", "avif": "image/avif", "jpeg": "image/jpeg"}
PILLOW_FORMAT = {"webp": "WEBP", "avif": "AVIF", "jpeg": "JPEG"}


def encoder_for(fmt: str) -> str:
    """The format actually used: AVIF needs a Pillow built with libavif, else WebP."""
    if fmt == "avif" and not features.check("avif"):
        return "webp"
    return fmt


@dataclass(frozen=True)
class Rendition:
    """One variant to produce: longest side (thumbnail) or width, format and quality."""

    width: int
    fmt: str
    quality: int
    thumbnail: bool = False

    @property
    def key(self) -> str:
        """The spec key the cache is keyed by (with the source's hash)."""
        kind = f"t{self.width}" if self.thumbnail else f"w{self.width}"
        return f"{kind}.{self.fmt}.q{self.quality}"


def renditions(spec: ChannelSpec, thumbnail_px: int, source_width: int) -> list[Rendition]:
    """The thumbnail and the responsive widths of a channel spec (never wider than the source)."""
    fmt = encoder_for(spec.format)
    widths = sorted({min(w, source_width) for w in spec.widths})
    return [
        Rendition(thumbnail_px, fmt, spec.quality, thumbnail=True),
        *(Rendition(w, fmt, spec.quality) for w in widths),
    ]


@dataclass(frozen=True)
class Job:
    """A source image to render into several renditions."""

    sha256: str
    data: bytes
    renditions: tuple[Rendition, ...]


def render(job: Job) -> list[tuple[Rendition, bytes, int, int]]:
    """Each rendition of a source: (rendition, bytes, width, height) (process-pool worker)."""
    out = []
    with Image.open(io.BytesIO(job.data)) as opened:
        base = ImageOps.exif_transpose(opened)
        base = base.convert("RGBA" if base.mode in ("RGBA", "LA", "P") else "RGB")
        for r in job.renditions:
            img = base.copy()
            if r.thumbnail:
                img.thumbnail((r.width, r.width), Image.Resampling.LANCZOS, reducing_gap=3.0)
            elif img.width != r.width:
                height = max(1, round(img.height * r.width / img.width))
                img = img.resize((r.width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)
            if r.fmt == "jpeg" and img.mode != "RGB":
                flat = Image.new("RGB", img.size, (255, 255, 255))
                flat.paste(img, mask=img.getchannel("A"))
                img = flat
            buf = io.BytesIO()
            img.save(
                buf,
                PILLOW_FORMAT[r.fmt],
                quality=r.quality,
                **({"optimize": True} if r.fmt == "jpeg" else {}),
            )
            out.append((r, buf.getvalue(), img.width, img.height))
    return out


@dataclass
class VariantReport:
    """Variants rendered now, found in the cache, and assets skipped (not images)."""

    rendered: int = 0
    cached: int = 0
    skipped: list[str] | None = None


def make_variants(
    engine: Engine,
    store: ContentStore,
    asset_ids: Iterable[int],
    channels: Sequence[str],
    media: MediaSettings,
) -> VariantReport:
    """Render (or find cached) the variants of ``asset_ids`` for each channel's spec."""
    unknown = [c for c in channels if c not in media.channel_specs]
    if unknown:
        raise InputError(
            f"no spec for channel {', '.join(unknown)}; known: {', '.join(sorted(media.channel_specs))}"
        )
    report = VariantReport(skipped=[])
    with transaction(engine) as session:
        assets = get_assets(session, asset_ids)
        wanted: dict[int, list[tuple[str, Rendition]]] = {}
        for asset in assets.values():
            if asset.kind != "image" or not asset.width:
                report.skipped.append(f"asset {asset.id}: {asset.kind} assets have no variants")  # type: ignore[union-attr]
                continue
            seen: set[str] = set()
            for channel in channels:
                for r in renditions(media.channel_specs[channel], media.thumbnail_px, asset.width):
                    if r.key not in seen:
                        seen.add(r.key)
                        wanted.setdefault(asset.id, []).append((channel, r))
        cached = variants_by_key(
            session, [(assets[a].sha256, r.key) for a, rs in wanted.items() for _, r in rs]
        )
    jobs = []
    for asset_id, rs in wanted.items():
        sha = assets[asset_id].sha256
        todo = tuple(r for _, r in rs if (sha, r.key) not in cached or not store.exists(f"{sha}.{r.key}"))
        report.cached += len(rs) - len(todo)
        if todo:
            jobs.append((asset_id, Job(sha, store.get(sha), todo)))
    channel_of = {(a, r.key): c for a, rs in wanted.items() for c, r in rs}
    rows = []
    results = _run([j for _, j in jobs], media.workers)
    for (asset_id, job), rendered in zip(jobs, results, strict=True):
        for r, data, width, height in rendered:
            rows.append({
                "source_asset_id": asset_id, "source_sha256": job.sha256, "spec_key": r.key,
                "channel": channel_of[(asset_id, r.key)], "path": store.put(f"{job.sha256}.{r.key}", data),
                "mime_type": MIME[r.fmt], "width": width, "height": height, "size_bytes": len(data),
            })  # fmt: skip
    if rows:
        with transaction(engine) as session:
            insert_variants(session, rows)
    report.rendered = len(rows)
    return report


def _run(jobs: list[Job], workers: int) -> list[list[tuple[Rendition, bytes, int, int]]]:
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
            return list(pool.map(render, jobs))
    return [render(j) for j in jobs]


def variant_for(engine: Engine, asset_id: int, channel: str, width: int | None = None) -> AssetVariant | None:
    """The rendered variant publishing should send on ``channel``: the narrowest responsive width
    at least ``width`` wide (the widest when none is, or when no width is asked); None when the
    asset has no variant for that channel yet (``aicmo media variants`` renders them)."""
    with transaction(engine) as session:
        found = [
            v for v in variants_of(session, asset_id) if v.channel == channel and v.spec_key.startswith("w")
        ]
    if not found:
        return None
    found.sort(key=lambda v: v.width)
    if width is not None:
        wide_enough = [v for v in found if v.width >= width]
        if wide_enough:
            return wide_enough[0]
    return found[-1]
