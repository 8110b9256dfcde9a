"""Creative assets: real PNG and JPEG files drawn with Pillow, some near-duplicates of others.

Each base creative is a gradient background with shapes, a headline and a call-to-action button.
A few creatives are near-duplicates of a base one (resized, recompressed, recoloured, cropped or
re-encoded), the kind of copies a media library collects and a perceptual hash finds. Each
creative has a hidden ``quality`` in [0, 1] that raises the click rate of campaigns using it;
a near-duplicate performs like its original.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

HEADLINES = (
    "Spring Sale", "New Arrivals", "Free Shipping", "Last Chance", "Members Only", "Back in Stock",
    "Weekend Deal", "Save 30%", "Just Launched", "Flash Sale", "Best Sellers", "Gift Ideas",
    "Summer Edit", "Early Access", "Bundle & Save", "Clearance",
)  # fmt: skip
CTAS = ("Shop now", "Learn more", "Get offer", "Sign up", "Try free")
SIZES = ((600, 314), (400, 400), (640, 360), (320, 480), (728, 300))
TRANSFORMS = ("resized", "recompressed", "recoloured", "cropped", "reencoded", "resized")
BASE_CREATIVES = 16


@dataclass(frozen=True)
class Creative:
    """One written creative file and what the store needs to know about it."""

    name: str
    path: Path
    mime_type: str
    width: int
    height: int
    size_bytes: int
    sha256: str
    phash: str
    quality: float
    original: str | None  # name of the creative this one is a near-duplicate of
    transform: str | None


def _gradient(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    t = xs / width * np.cos(angle) + ys / height * np.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-9)
    pixels = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    return Image.fromarray(pixels.astype(np.uint8), "RGB")


def _color(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in rng.integers(0, 256, 3))
    return r, g, b


def draw_creative(rng: np.random.Generator, index: int) -> Image.Image:
    """A base creative: gradient, 2-5 shapes, a headline and a button."""
    width, height = SIZES[int(rng.integers(0, len(SIZES)))]
    img = _gradient(rng, width, height)
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 6))):
        x0, y0 = int(rng.integers(0, width * 3 // 4)), int(rng.integers(0, height * 3 // 4))
        w, h = int(rng.integers(width // 8, width // 2)), int(rng.integers(height // 8, height // 2))
        kind = int(rng.integers(0, 3))
        if kind == 0:
            draw.ellipse((x0, y0, x0 + w, y0 + h), fill=_color(rng))
        elif kind == 1:
            draw.rectangle((x0, y0, x0 + w, y0 + h), fill=_color(rng))
        else:
            draw.polygon([(x0, y0 + h), (x0 + w // 2, y0), (x0 + w, y0 + h)], fill=_color(rng))
    headline = HEADLINES[index % len(HEADLINES)]
    font = ImageFont.load_default(size=max(18, width // 12))
    draw.text((width // 14, height // 8), headline, fill=(255, 255, 255), font=font, stroke_width=2,
              stroke_fill=(0, 0, 0))  # fmt: skip
    bx, by = width // 14, height - height // 4
    small = ImageFont.load_default(size=max(12, width // 28))
    cta = CTAS[int(rng.integers(0, len(CTAS)))]
    draw.rounded_rectangle((bx, by, bx + width // 3, by + height // 7), radius=8, fill=_color(rng))
    draw.text((bx + 10, by + height // 40), cta, fill=(255, 255, 255), font=small)
    return img


def near_duplicate(img: Image.Image, transform: str, base_format: str) -> tuple[Image.Image, str]:
    """A near-duplicate of ``img`` (saved as ``base_format``) and the format to save it in."""
    if transform == "resized":
        return img.resize((img.width // 2, img.height // 2), Image.Resampling.LANCZOS), "PNG"
    if transform == "recompressed":
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=45)
        return Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), "JPEG"
    if transform == "recoloured":
        return ImageEnhance.Color(ImageEnhance.Brightness(img).enhance(1.08)).enhance(0.85), "PNG"
    if transform == "cropped":
        dx, dy = img.width // 40, img.height // 40
        return img.crop((dx, dy, img.width - dx, img.height - dy)).resize(img.size), "JPEG"
    if transform == "reencoded":
        return img.copy(), "PNG" if base_format == "JPEG" else "JPEG"
    raise ValueError(f"unknown near-duplicate transform {transform!r}")


def _encode(img: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    if fmt == "JPEG":
        img.save(buf, "JPEG", quality=88, optimize=False)
    else:
        img.save(buf, "PNG", optimize=False)
    return buf.getvalue()


def _write(folder: Path, name: str, data: bytes) -> Path:
    path = folder / name
    if not path.exists() or path.read_bytes() != data:
        tmp = folder / f".{name}.inprogress"
        tmp.write_bytes(data)
        tmp.replace(path)
    return path


def make_creatives(rng: np.random.Generator, folder: Path) -> list[Creative]:
    """Draw the base creatives and their near-duplicates into ``folder``; same rng state, same bytes."""
    folder.mkdir(parents=True, exist_ok=True)
    made: list[tuple[str, Image.Image, bytes, str, float, str | None, str | None]] = []
    bases: list[tuple[str, Image.Image, float, str]] = []
    for i in range(BASE_CREATIVES):
        img = draw_creative(rng, i)
        fmt = "PNG" if rng.random() < 0.6 else "JPEG"
        slug = HEADLINES[i % len(HEADLINES)].lower().replace(" & ", "-").replace("%", "pct").replace(" ", "-")
        name = f"creative-{i + 1:02d}-{slug}.{'png' if fmt == 'PNG' else 'jpg'}"
        quality = float(rng.beta(2.0, 2.0))
        made.append((name, img, _encode(img, fmt), fmt, quality, None, None))
        bases.append((name, img, quality, fmt))
    originals = rng.choice(BASE_CREATIVES, size=len(TRANSFORMS), replace=False)
    for k, (orig, transform) in enumerate(zip(originals, TRANSFORMS, strict=True)):
        base_name, base_img, base_quality, base_format = bases[int(orig)]
        img, fmt = near_duplicate(base_img, transform, base_format)
        stem = base_name.rsplit(".", 1)[0]
        name = f"{stem}-{transform}{k}.{'png' if fmt == 'PNG' else 'jpg'}"
        quality = float(np.clip(base_quality + rng.normal(0, 0.03), 0, 1))
        made.append((name, img, _encode(img, fmt), fmt, quality, base_name, transform))
    creatives = []
    for file_name, img, data, fmt, quality, original, how in made:
        path = _write(folder, file_name, data)
        with Image.open(io.BytesIO(data)) as decoded:
            phash = str(imagehash.phash(decoded))
        creatives.append(
            Creative(
                name=file_name,
                path=path.resolve(),
                mime_type="image/png" if fmt == "PNG" else "image/jpeg",
                width=img.width,
                height=img.height,
                size_bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
                phash=phash,
                quality=round(quality, 4),
                original=original,
                transform=how,
            )
        )
    return creatives
