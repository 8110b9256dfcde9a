"""MIME type and asset kind from a file's first bytes, never from its name.

The signatures are the formats' own magic numbers (PNG, JPEG, GIF, WebP, AVIF/HEIF, BMP, TIFF,
ICO, PDF, MP4/QuickTime, WebM/Matroska, Ogg, AVI); anything else is ``application/octet-stream``,
or ``text/plain`` when the head decodes as UTF-8 text.
"""

from __future__ import annotations

HEAD_BYTES = 64

_ISO_BRANDS = {
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"mif1": "image/heif",
    b"qt  ": "video/quicktime",
}


def sniff_mime(head: bytes) -> str:
    """The MIME type the content says it is (``head``: at least the first 64 bytes)."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        return _ISO_BRANDS.get(head[8:12], "video/mp4")
    if head.startswith(b"BM"):
        return "image/bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head.startswith(b"\x00\x00\x01\x00"):
        return "image/x-icon"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"OggS"):
        return "video/ogg"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<svg", b"<?xml")) and b"svg" in head.lower():
        return "image/svg+xml"
    return "text/plain" if head else "application/octet-stream"


def kind_of(mime: str, frames: int = 1) -> str | None:
    """The asset kind of a MIME type (None when the library does not keep that kind)."""
    if mime == "image/gif" and frames > 1:
        return "animated_gif"
    if mime.startswith("image/"):
        return "image"
    if mime.startswith("video/"):
        return "video"
    if mime == "application/pdf":
        return "document"
    return None


PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/avif": "AVIF",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/x-icon": "ICO",
}
"""The Pillow format name of each raster MIME type."""
