"""Ingest: content-addressed, exact duplicates by SHA-256, MIME from content, bad files refused one by one."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine

from aicmo.settings import MediaSettings
from aicmo.storage.db import transaction
from aicmo.storage.media import AssetFilter, ContentStore, get_asset, list_assets
from aicmo.tasks.media.ingest import Labels, ingest_bytes, ingest_paths
from tests.media.images import encode, photo


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels, with one tiny compressed row."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def test_files_and_folders_go_in_and_the_same_bytes_return_the_same_asset(
    engine: Engine, media: MediaSettings, tmp_path: Path
) -> None:
    png = encode(photo(1, (120, 90)))
    jpeg = encode(photo(2, (120, 90)), "JPEG", quality=85)
    a = _write(tmp_path / "in" / "hero.png", png)
    _write(tmp_path / "in" / "sub" / "banner.jpg", jpeg)
    report = ingest_paths(engine, [tmp_path / "in"], Labels("ana", "spring", ("sale",)), media=media)
    assert len(report.added) == 2 and not report.rejected
    again = ingest_paths(
        engine, [_write(tmp_path / "copy-with-another-name.png", png), a], Labels(tags=("hero",)), media=media
    )
    assert again.added == [] and set(again.existing) == {report.by_name[str(a)]}
    with transaction(engine) as session:
        asset = get_asset(session, report.by_name[str(a)])
        assert asset is not None
        assert (asset.sha256, asset.mime_type, asset.kind) == (
            hashlib.sha256(png).hexdigest(),
            "image/png",
            "image",
        )
        assert (asset.width, asset.height, asset.size_bytes, asset.status) == (120, 90, len(png), "draft")
        assert (asset.owner, asset.library, asset.tags) == ("ana", "spring", ["hero", "sale"])
        assert len(asset.phash or "") == 16 and len(asset.dhash or "") == 16
        assert len(list_assets(session, AssetFilter(tag="sale", kind="image"))) == 2
        assert list_assets(session, AssetFilter(library="other")) == []
        assert len(list_assets(session, AssetFilter(min_bytes=len(png)))) == 1 + (len(jpeg) >= len(png))
    assert ContentStore(str(media.store_url)).get(asset.sha256) == png


def test_mime_comes_from_the_content_not_the_name(
    sqlite_engine: Engine, media: MediaSettings, tmp_path: Path
) -> None:
    path = _write(tmp_path / "really-a-png.jpg", encode(photo(3, (64, 48))))
    report = ingest_paths(sqlite_engine, [path], media=media)
    with transaction(sqlite_engine) as session:
        asset = get_asset(session, report.added[0])
        assert asset is not None and asset.mime_type == "image/png"


def test_each_bad_file_is_refused_with_its_name_while_the_batch_goes_on(
    sqlite_engine: Engine, media: MediaSettings, tmp_path: Path
) -> None:
    good = encode(photo(4, (100, 80)), "JPEG", quality=90)
    folder = tmp_path / "batch"
    _write(folder / "01-good.jpg", good)
    _write(folder / "02-truncated.jpg", good[: len(good) // 2])
    _write(folder / "03-corrupt.png", encode(photo(5, (80, 60)))[:40] + b"\x00garbage" * 50)
    _write(folder / "04-bomb.png", _png_header_only(30_000, 30_000))
    _write(folder / "05-notes.png", b"these are meeting notes, not a picture\n" * 20)
    bmp = tmp_path / "bmp.bmp"
    Image.new("RGB", (20, 20), (200, 10, 10)).save(bmp, "BMP")
    _write(folder / "06-legacy.bmp", bmp.read_bytes())
    _write(folder / "07-huge.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (media.max_bytes + 10))
    _write(folder / "08-good.png", encode(photo(6, (90, 70))))
    report = ingest_paths(sqlite_engine, [folder], media=media)
    assert len(report.added) == 2
    by_file = {line.split(": ", 1)[0].rsplit("/", 1)[-1]: line for line in report.rejected}
    assert sorted(by_file) == ["02-truncated.jpg", "03-corrupt.png", "04-bomb.png", "05-notes.png",
                               "06-legacy.bmp", "07-huge.png"]  # fmt: skip
    assert all("\n" not in line for line in report.rejected)
    assert "truncated" in by_file["02-truncated.jpg"]
    assert (
        "decompression bomb" in by_file["04-bomb.png"]
        and "AICMO_MEDIA_MAX_IMAGE_PIXELS" in by_file["04-bomb.png"]
    )
    assert "not an image" in by_file["05-notes.png"] and "text/plain" in by_file["05-notes.png"]
    assert "BMP is not accepted" in by_file["06-legacy.bmp"]
    assert "AICMO_MEDIA_MAX_BYTES" in by_file["07-huge.png"]


def test_store_can_be_an_fsspec_url(sqlite_engine: Engine, media: MediaSettings) -> None:
    url = f"memory://aicmo-test-{id(media)}"
    remote = media.model_copy(update={"store_url": url})
    data = encode(photo(7, (64, 64)))
    report = ingest_bytes(sqlite_engine, data, "a.png", "upload:a.png", media=remote)
    with transaction(sqlite_engine) as session:
        asset = get_asset(session, report.added[0])
        assert asset is not None and asset.path.startswith("memory://")
    assert ContentStore(url).get(hashlib.sha256(data).hexdigest()) == data


def test_animated_gif_is_its_own_kind(sqlite_engine: Engine, media: MediaSettings, tmp_path: Path) -> None:
    frames = [photo(s, (40, 30)) for s in range(3)]
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    report = ingest_paths(sqlite_engine, [path], media=media)
    with transaction(sqlite_engine) as session:
        asset = get_asset(session, report.added[0])
        assert asset is not None and (asset.kind, asset.frames) == ("animated_gif", 3)


@pytest.mark.parametrize("workers", [2])
def test_process_pool_gives_the_same_result(
    sqlite_engine: Engine, media: MediaSettings, tmp_path: Path, workers: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import aicmo.tasks.media.ingest as ingest_mod

    monkeypatch.setattr(ingest_mod, "POOL_MIN_FILES", 2)
    for s in range(4):
        _write(tmp_path / "pool" / f"{s}.png", encode(photo(s, (48, 36))))
    _write(tmp_path / "pool" / "bad.png", b"nope")
    report = ingest_paths(
        sqlite_engine, [tmp_path / "pool"], media=media.model_copy(update={"workers": workers})
    )
    assert len(report.added) == 4 and len(report.rejected) == 1
