"""Photo-like test images drawn with Pillow (gradients, shapes, texture, noise) and their edits."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont


def photo(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A photo-like picture: a two-colour gradient, blurred shapes, fine texture and sensor noise."""
    rng = np.random.default_rng(seed)
    w, h = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    angle = rng.uniform(0, np.pi)
    t = (xs / w) * np.cos(angle) + (ys / h) * np.sin(angle)
    t = (t - t.min()) / (t.max() - t.min())
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    pixels = c0 * (1 - t[..., None]) + c1 * t[..., None]
    img = Image.fromarray(pixels.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 8))):
        x0, y0 = int(rng.integers(0, w - w // 4)), int(rng.integers(0, h - h // 4))
        x1, y1 = x0 + int(rng.integers(w // 8, w // 2)), y0 + int(rng.integers(h // 8, h // 2))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=fill)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=fill)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    arr = np.asarray(img).astype(np.float64)
    arr += 12 * np.sin(xs / rng.uniform(3, 9))[..., None] * np.cos(ys / rng.uniform(3, 9))[..., None]
    arr += rng.normal(0, 6, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def templated(seed: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """A different photo in the same banner template: headline bar, side panel and button at fixed places."""
    img = photo(seed, size)
    w, h = size
    draw = ImageDraw.Draw(img)
    draw.rectangle((w // 10, h // 14, w - w // 10, h // 6), fill=(20, 20, 60))
    draw.rectangle((w - w // 4, h // 4, w - w // 20, h - h // 3), fill=(240, 240, 240))
    draw.rounded_rectangle((w // 10, h - h // 4, w // 2, h - h // 10), radius=6, fill=(230, 60, 40))
    return img


def encode(img: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    """The image's bytes in ``fmt``."""
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def resized(img: Image.Image, factor: float = 0.6) -> Image.Image:
    return img.resize((int(img.width * factor), int(img.height * factor)), Image.Resampling.LANCZOS)


def recompressed(img: Image.Image, quality: int = 40) -> Image.Image:
    return Image.open(io.BytesIO(encode(img, "JPEG", quality=quality))).convert("RGB")


def cropped(img: Image.Image, fraction: float = 0.025) -> Image.Image:
    dx, dy = int(img.width * fraction), int(img.height * fraction)
    return img.crop((dx, dy, img.width - dx, img.height - dy))


def watermarked(img: Image.Image) -> Image.Image:
    out = img.convert("RGBA")
    layer = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = ImageFont.load_default(size=max(12, img.width // 14))
    draw.text((img.width * 0.55, img.height * 0.85), "© studio", fill=(255, 255, 255, 150), font=font)
    return Image.alpha_composite(out, layer).convert("RGB")


EDITS = {"resized": resized, "recompressed": recompressed, "cropped": cropped, "watermarked": watermarked}
