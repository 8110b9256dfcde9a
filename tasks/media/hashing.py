"""Perceptual hashes (pHash and dHash, 64 bits each) computed the way imagehash does, only faster.

``imagehash.phash`` converts the full decoded image to grey, resizes it to 32x32, takes a 2-D
DCT and sets a bit per low-frequency coefficient above their median; ``imagehash.dhash`` resizes
to 9x8 and compares neighbours. Here the same steps run on an image decoded at reduced size:
JPEG's decoder scales in the DCT domain (Pillow's ``draft``) straight to grey, other formats are
shrunk with ``reducing_gap``; the 8 needed DCT rows are one small matrix product. The hashes can
differ from imagehash's by a bit or two on the same file, the way two encodings of one picture
do; the tests check that near-duplicates are still found.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_BITS = 64
_SIDE = 32  # pHash works on a 32x32 grey image
_DRAFT = (64, 64)  # decode JPEGs at the smallest DCT scale that keeps at least this size


def _dct_rows(n: int, rows: int) -> np.ndarray:
    k = np.arange(rows)[:, None]
    i = np.arange(n)[None, :]
    return np.cos(np.pi * k * (2 * i + 1) / (2 * n))


_DCT8 = _dct_rows(_SIDE, 8)


def prepare(img: Image.Image) -> Image.Image:
    """Ask the decoder for a small grey image (JPEG only; Pillow ignores it for other formats or once loaded)."""
    if img.format == "JPEG":
        img.draft("L", _DRAFT)
    return img


def _grey(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
    return img if img.mode == "L" else img.convert("L")


def _hex(bits: np.ndarray) -> str:
    return bytes(np.packbits(bits.ravel().astype(np.uint8))).hex()


def phash_dhash(img: Image.Image) -> tuple[str, str]:
    """(pHash, dHash) of ``img`` as 16 hex digits each, imagehash's bit order."""
    grey = _grey(prepare(img))
    small = np.asarray(
        grey.resize((_SIDE, _SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float64
    )
    low = _DCT8 @ small @ _DCT8.T
    phash = low > np.median(low)
    tiny = np.asarray(grey.resize((9, 8), Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.int16)
    dhash = tiny[:, 1:] > tiny[:, :-1]
    return _hex(phash), _hex(dhash)


def to_int(hex_hash: str) -> int:
    """A 16-hex-digit hash as a signed 64-bit integer (NumPy ``int64`` friendly)."""
    value = int(hex_hash, 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def hamming(a: str, b: str) -> int:
    """Hamming distance of two hex hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
