"""What a file is, checked before it enters the library: type from content, limits, integrity, hashes.

``probe`` never trusts a name: the MIME type comes from the bytes, images are opened with
``Image.open(fp, formats=...)`` restricted to the accepted formats, dimensions are checked against
``MAX_IMAGE_PIXELS`` before any pixel is decoded (decompression bombs), and the whole image is then
decoded so truncated or corrupt files are caught. A bad file yields a ``Rejection`` whose reason is
one line naming what is wrong; the caller reports it with the file's name and goes on.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from pathlib import PurePath

from PIL import Image, ImageSequence, UnidentifiedImageError

from aicmo.tasks.media.hashing import phash_dhash, prepare
from aicmo.tasks.media.sniff import HEAD_BYTES, PILLOW_FORMATS, kind_of, sniff_mime

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".gif", ".webp", ".avif", ".bmp", ".tif", ".tiff", ".ico", ".heic"}
)
MAX_FRAMES = 1000


@dataclass(frozen=True)
class Limits:
    """What the library accepts (from ``MediaSettings``)."""

    max_bytes: int
    max_pixels: int
    formats: tuple[str, ...]


@dataclass(frozen=True)
class Probe:
    """The facts the store keeps about an accepted file."""

    name: str
    sha256: str
    size_bytes: int
    mime_type: str
    kind: str
    width: int | None
    height: int | None
    frames: int | None
    phash: str | None
    dhash: str | None


@dataclass(frozen=True)
class Rejection:
    """A file refused, and why (one line)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def _mb(n: int) -> str:
    return f"{n / 1_000_000:.1f} MB"


def _check_image(data: bytes, fmt: str, limits: Limits) -> tuple[int, int, int, str, str]:
    """(width, height, frames, pHash, dHash) of an image, or ValueError with the reason."""
    previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, limits.max_pixels
    try:
        return _open_and_check(data, fmt, limits)
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def _open_and_check(data: bytes, fmt: str, limits: Limits) -> tuple[int, int, int, str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(limits.formats))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError(
                f"decompression bomb refused: the header claims more than {limits.max_pixels:,} pixels "
                "(AICMO_MEDIA_MAX_IMAGE_PIXELS)"
            ) from None
        except UnidentifiedImageError:
            raise ValueError(f"not a readable {fmt} image (corrupt header)") from None
        with img:
            width, height = img.size
            if width * height > limits.max_pixels:
                raise ValueError(
                    f"decompression bomb refused: {width}x{height} = {width * height:,} pixels is over "
                    f"the {limits.max_pixels:,} limit (AICMO_MEDIA_MAX_IMAGE_PIXELS)"
                )
            frames = int(getattr(img, "n_frames", 1))
            if frames > MAX_FRAMES:
                raise ValueError(f"{frames} frames is over the {MAX_FRAMES} frame limit")
            try:
                hashes = phash_dhash(prepare(img))  # decodes the first frame (all of its data)
                if frames > 1:
                    for frame in ImageSequence.Iterator(img):
                        frame.load()
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
                raise ValueError(f"truncated or corrupt {fmt} image ({exc})") from None
    return width, height, frames, *hashes


def probe(data: bytes, name: str, limits: Limits) -> Probe | Rejection:
    """Check one file's bytes; the facts to store, or why it is refused."""
    if len(data) > limits.max_bytes:
        return Rejection(
            name, f"{_mb(len(data))} is over the {_mb(limits.max_bytes)} cap (AICMO_MEDIA_MAX_BYTES)"
        )
    if not data:
        return Rejection(name, "empty file")
    mime = sniff_mime(data[:HEAD_BYTES])
    suffix = PurePath(name).suffix.lower()
    if suffix in IMAGE_EXTENSIONS and not mime.startswith("image/"):
        return Rejection(name, f"not an image: the content is {mime} despite the {suffix} extension")
    kind = kind_of(mime)
    fmt = PILLOW_FORMATS.get(mime)
    if kind is None or (kind == "image" and fmt is None):
        return Rejection(name, f"unsupported content type {mime}")
    sha = hashlib.sha256(data).hexdigest()
    if kind != "image":
        return Probe(name, sha, len(data), mime, kind, None, None, None, None, None)
    assert fmt is not None
    if fmt not in limits.formats:
        accepted = ", ".join(limits.formats)
        return Rejection(
            name, f"format {fmt} is not accepted (accepted: {accepted}; AICMO_MEDIA_ACCEPTED_FORMATS)"
        )
    try:
        width, height, frames, phash, dhash = _check_image(data, fmt, limits)
    except ValueError as exc:
        return Rejection(name, str(exc))
    return Probe(
        name, sha, len(data), mime, kind_of(mime, frames) or kind, width, height, frames, phash, dhash
    )


def probe_file(path: str, limits: Limits) -> Probe | Rejection:
    """``probe`` on a file, refusing it by its size before reading it (process-pool friendly)."""
    p = PurePath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        return Rejection(str(p), f"cannot read ({exc.strerror or exc})")
    if len(data) > limits.max_bytes:
        return Rejection(str(p), f"over the {_mb(limits.max_bytes)} cap (AICMO_MEDIA_MAX_BYTES)")
    result = probe(data, p.name, limits)
    return Rejection(str(p), result.reason) if isinstance(result, Rejection) else result
