"""Variants: thumbnail and responsive widths per channel spec, encoded as asked, cached, linked to the source."""

from __future__ import annotations

import io

from PIL import Image
from sqlalchemy import Engine

from aicmo.settings import MediaSettings
from aicmo.storage.db import transaction
from aicmo.storage.media import ContentStore, variants_of
from aicmo.tasks.media.ingest import ingest_bytes
from aicmo.tasks.media.variants import encoder_for, make_variants
from tests.media.images import encode, photo


def test_variants_per_spec_are_cached_and_linked(sqlite_engine: Engine, media: MediaSettings) -> None:
    store = ContentStore(str(media.store_url))
    src = ingest_bytes(sqlite_engine, encode(photo(1, (800, 400))), "a.png", "t:a", media=media).added[0]
    doc = ingest_bytes(
        sqlite_engine, b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\n", "brief.pdf", "t:b", media=media
    ).added[0]
    report = make_variants(
        sqlite_engine, store, [src, doc], ["email", "web_push"], media.model_copy(update={"workers": 2})
    )
    assert report.cached == 0 and report.skipped == [f"asset {doc}: document assets have no variants"]
    with transaction(sqlite_engine) as session:
        variants = {v.spec_key: v for v in variants_of(session, src)}
    web = encoder_for("webp")
    # email: JPEG at 600 and 800 (1200 capped at the source's width); web push: WebP at 720 and 800 (1350 capped)
    assert set(variants) == {"t256.jpeg.q80", "w600.jpeg.q80", "w800.jpeg.q80", f"t256.{web}.q80",
                             f"w720.{web}.q80", f"w800.{web}.q80"}  # fmt: skip
    assert report.rendered == len(variants)
    for key, v in variants.items():
        with Image.open(io.BytesIO(store.get(f"{v.source_sha256}.{key}"))) as img:
            assert img.format == ("JPEG" if "jpeg" in key else web.upper())
            assert img.size == (v.width, v.height)
            if key.startswith("t"):
                assert max(img.size) == 256
            else:
                assert img.width == int(key[1:].split(".")[0]) and abs(img.width / img.height - 2.0) < 0.01
    again = make_variants(sqlite_engine, store, [src], ["email", "web_push"], media)
    assert (again.rendered, again.cached) == (0, len(variants))


def test_avif_where_pillow_can_encode_it(sqlite_engine: Engine, media: MediaSettings) -> None:
    from aicmo.settings import ChannelSpec

    specs = {**media.channel_specs, "display": ChannelSpec(widths=[96], format="avif", quality=60)}
    custom = media.model_copy(update={"channel_specs": specs, "thumbnail_px": 32})
    src = ingest_bytes(sqlite_engine, encode(photo(3, (160, 120))), "c.png", "t:c", media=media).added[0]
    store = ContentStore(str(media.store_url))
    make_variants(sqlite_engine, store, [src], ["display"], custom)
    with transaction(sqlite_engine) as session:
        (variant,) = [v for v in variants_of(session, src) if v.spec_key.startswith("w")]
    expected = encoder_for("avif")  # AVIF when this Pillow has libavif, else WebP
    assert variant.spec_key == f"w96.{expected}.q60" and variant.mime_type == f"image/{expected}"
    with Image.open(io.BytesIO(store.get(f"{variant.source_sha256}.{variant.spec_key}"))) as img:
        assert img.format == expected.upper() and img.size == (96, 72)


def test_publishing_picks_the_variant_for_its_channel(sqlite_engine: Engine, media: MediaSettings) -> None:
    from aicmo.tasks.media.variants import variant_for

    store = ContentStore(str(media.store_url))
    src = ingest_bytes(sqlite_engine, encode(photo(2, (1400, 700))), "b.png", "t:b", media=media).added[0]
    assert variant_for(sqlite_engine, src, "email") is None
    make_variants(sqlite_engine, store, [src], ["email"], media)
    picked = variant_for(sqlite_engine, src, "email", width=700)
    assert picked is not None and (picked.width, picked.mime_type) == (1200, "image/jpeg")
    widest = variant_for(sqlite_engine, src, "email")
    assert widest is not None and widest.width == 1200
    narrow = variant_for(sqlite_engine, src, "email", width=500)
    assert narrow is not None and narrow.width == 600
    assert variant_for(sqlite_engine, src, "push") is None
