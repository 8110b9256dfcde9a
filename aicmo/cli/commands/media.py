"""``aicmo media``: the creative library: add, list, review, near-duplicates, performance, suggestions, variants."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from aicmo.cli.console import console, err_console, progress_bar
from aicmo.errors import InputError
from aicmo.wiring import engine, lake

app = typer.Typer(help="The creative library: add, review, find near-duplicates, suggest, render variants.",
                  no_args_is_help=True)  # fmt: skip

OWNER = typer.Option(None, "--owner", help="Who owns the assets.")
LIBRARY = typer.Option(None, "--library", help="Library (collection) to put them in.")
TAGS = typer.Option([], "--tag", help="Tag to add (repeatable).")
BY = typer.Option(None, "--by", help="Who is acting (default: the current user).")


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1_000_000:.1f} MB" if n >= 1_000_000 else f"{n / 1000:.0f} kB"


def _report(report: Any) -> None:
    console.print(
        f"added {len(report.added)}, already stored {len(report.existing)}, rejected {len(report.rejected)}"
    )
    for line in report.rejected:
        err_console.print(f"[red]rejected:[/] {escape(line)}", highlight=False, soft_wrap=True)
    if report.rejected:
        raise typer.Exit(1)


@app.command("add")
def add_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or folders (walked recursively)."),
    owner: str | None = OWNER,
    library: str | None = LIBRARY,
    tag: list[str] = TAGS,
) -> None:
    """Add files; the same bytes twice give the existing asset; bad files are named and skipped (exit 1)."""
    from aicmo.tasks.media.ingest import Labels, expand, ingest_paths

    eng = engine()
    total = len(expand(paths))
    with progress_bar("adding files", total=total) as advance:
        report = ingest_paths(eng, paths, Labels(owner, library, tuple(tag)), advance=advance)
    _report(report)


@app.command("add-url")
def add_url_cmd(
    url: str = typer.Argument(..., help="http(s) URL of the file."),
    owner: str | None = OWNER,
    library: str | None = LIBRARY,
    tag: list[str] = TAGS,
) -> None:
    """Download a file (http/https only, size cap, timeout, private addresses refused) and add it."""
    from aicmo.settings import get_settings
    from aicmo.tasks.media.ingest import Labels
    from aicmo.tasks.media.library import add_url

    report = add_url(engine(), url, get_settings().media, Labels(owner, library, tuple(tag)))
    _report(report)
    for asset_id in report.by_name.values():
        console.print(f"asset {asset_id}")


@app.command("list")
def list_cmd(
    tag: str | None = typer.Option(None, "--tag"),
    library: str | None = typer.Option(None, "--library"),
    # ASSET_KINDS and ASSET_STATUSES, spelled out so that --help loads no table (tests/cli/test_startup.py)
    kind: str | None = typer.Option(None, "--kind", help="One of image, animated_gif, video, document."),
    status: str | None = typer.Option(
        None, "--status", help="One of draft, in_review, approved, rejected, archived."
    ),
    min_bytes: int | None = typer.Option(None, "--min-bytes"),
    max_bytes: int | None = typer.Option(None, "--max-bytes"),
    limit: int = typer.Option(100, "--limit"),
) -> None:
    """Assets, filtered by tag, library, kind, status and size."""
    from aicmo.models.media import ASSET_KINDS, ASSET_STATUSES
    from aicmo.storage.db import transaction
    from aicmo.storage.media import AssetFilter, list_assets

    if kind is not None and kind not in ASSET_KINDS:
        raise InputError(f"--kind: expected one of {', '.join(ASSET_KINDS)}, got {kind!r}")
    if status is not None and status not in ASSET_STATUSES:
        raise InputError(f"--status: expected one of {', '.join(ASSET_STATUSES)}, got {status!r}")
    where = AssetFilter(tag, library, kind, status, min_bytes, max_bytes)
    with transaction(engine()) as session:
        assets = list_assets(session, where, limit)
    table = Table(title=f"assets ({len(assets)})", title_justify="left")
    for col in ("id", "name", "kind", "mime", "size", "dims", "status", "library", "tags"):
        table.add_column(col, overflow="fold")
    for a in assets:
        dims = f"{a.width}x{a.height}" if a.width else "-"
        table.add_row(str(a.id), escape(a.name), a.kind, a.mime_type or "-", _size(a.size_bytes), dims,
                      a.status, escape(a.library or ""), escape(", ".join(a.tags or [])))  # fmt: skip
    console.print(table)


@app.command("show")
def show_cmd(asset_id: int = typer.Argument(...)) -> None:
    """One asset: facts, where it is used (campaign and channel), its audit log and variants."""
    from aicmo.storage.db import transaction
    from aicmo.storage.media import get_asset, reviews, usage, variants_of

    with transaction(engine()) as session:
        a = get_asset(session, asset_id)
        if a is None:
            raise InputError(f"asset {asset_id} does not exist")
        used = usage(session, [asset_id])
        log = reviews(session, asset_id)
        variants = variants_of(session, asset_id)
    facts = Table(show_header=False, title=f"asset {a.id}", title_justify="left")
    facts.add_column("what", style="cyan")
    facts.add_column("value", overflow="fold")
    for key in (
        "name",
        "kind",
        "mime_type",
        "size_bytes",
        "width",
        "height",
        "frames",
        "sha256",
        "phash",
        "dhash",
        "status",
        "library",
        "owner",
        "tags",
        "source",
        "path",
        "created_at",
        "updated_at",
    ):
        facts.add_row(key, escape(str(getattr(a, key))))  # fmt: skip
    console.print(facts)
    if used:
        table = Table(title="used by", title_justify="left")
        for col in ("campaign_id", "campaign", "channel"):
            table.add_column(col)
        for u in used:
            table.add_row(str(u["campaign_id"]), escape(u["campaign"]), u["channel"])
        console.print(table)
    if log:
        table = Table(title="audit log", title_justify="left")
        for col in ("at", "actor", "action", "from", "to", "comment"):
            table.add_column(col, overflow="fold")
        for r in log:
            table.add_row(f"{r.at:%Y-%m-%d %H:%M:%S}", escape(r.actor), r.action, r.from_status or "-",
                          r.to_status, escape(r.comment or ""))  # fmt: skip
        console.print(table)
    for v in variants:
        console.print(
            f"variant {v.spec_key} ({v.channel}): {v.width}x{v.height} {_size(v.size_bytes)} {escape(v.path)}"
        )


@app.command("tag")
def tag_cmd(
    asset_id: int = typer.Argument(...),
    tags: list[str] = typer.Argument(..., help="Tags to add (or remove with --remove)."),
    remove: bool = typer.Option(False, "--remove"),
) -> None:
    """Add or remove tags."""
    from aicmo.storage.db import transaction
    from aicmo.storage.media import get_asset, set_tags

    with transaction(engine()) as session:
        a = get_asset(session, asset_id)
        if a is None:
            raise InputError(f"asset {asset_id} does not exist")
        current = set(a.tags or [])
        new = sorted(current - set(tags)) if remove else sorted(current | set(tags))
        set_tags(session, asset_id, new)
    console.print(f"asset {asset_id}: {escape(', '.join(new)) or 'no tags'}")


def _review(asset_id: int, action: str, by: str | None, comment: str | None) -> None:
    from aicmo.tasks.media.approval import transition

    review = transition(engine(), asset_id, action, by or getpass.getuser(), comment)
    console.print(f"asset {asset_id}: {review.from_status} -> {review.to_status} by {escape(review.actor)}")


@app.command("submit")
def submit_cmd(
    asset_id: int, by: str | None = BY, comment: str | None = typer.Option(None, "--comment")
) -> None:
    """Send a draft (or rejected) asset for review."""
    _review(asset_id, "submit", by, comment)


@app.command("approve")
def approve_cmd(
    asset_id: int, by: str | None = BY, comment: str | None = typer.Option(None, "--comment")
) -> None:
    """Approve an asset in review (only approved assets attach to campaigns)."""
    _review(asset_id, "approve", by, comment)


@app.command("reject")
def reject_cmd(asset_id: int, by: str | None = BY, comment: str = typer.Option(..., "--comment")) -> None:
    """Reject an asset in review, saying why."""
    _review(asset_id, "reject", by, comment)


@app.command("archive")
def archive_cmd(
    asset_id: int, by: str | None = BY, comment: str | None = typer.Option(None, "--comment")
) -> None:
    """Archive an asset (it leaves near-duplicate checks and cannot be attached)."""
    _review(asset_id, "archive", by, comment)


@app.command("dupes")
def dupes_cmd(
    distance: int | None = typer.Option(
        None,
        "--distance",
        help="Largest pHash + dHash distance of 128 bits (default: AICMO_MEDIA_DUPE_DISTANCE).",
    ),
) -> None:
    """Near-duplicate groups, each with its representative."""
    from aicmo.settings import get_settings
    from aicmo.storage.db import transaction
    from aicmo.tasks.media.dupes import find_dupe_groups

    media = get_settings().media
    k = media.dupe_distance if distance is None else distance
    if not 0 <= k <= 128:
        raise InputError(f"--distance: expected 0-128, got {k}")
    groups = find_dupe_groups(engine(), k)
    with transaction(engine()) as session:
        from aicmo.storage.media import get_assets

        names = {i: a.name for i, a in get_assets(session, [m for g in groups for m in g.members]).items()}
    table = Table(
        title=f"near-duplicate groups at pHash + dHash distance <= {k} ({len(groups)})", title_justify="left"
    )
    for col in ("group", "representative", "members"):
        table.add_column(col, overflow="fold")
    for n, g in enumerate(groups, 1):
        others = ", ".join(f"{m} {escape(names[m])}" for m in g.members[1:])
        table.add_row(str(n), f"{g.representative} {escape(names[g.representative])}", others)
    console.print(table)


@app.command("performance")
def performance_cmd(by_campaign: bool = typer.Option(False, "--by-campaign")) -> None:
    """Per asset and channel (or campaign): deliveries, clickers, CTR and CVR with 95% Wilson intervals."""
    from aicmo.settings import get_settings
    from aicmo.tasks.media.performance import performance

    df = performance(lake(), get_settings().media.confidence_z, by_campaign=by_campaign)
    table = Table(title="asset performance", title_justify="left")
    cols = ["asset_id", "channel", *(["campaign_id"] if by_campaign else []), "deliveries", "clickers",
            "ctr", "ctr_lo", "ctr_hi", "cvr", "revenue_per_send"]  # fmt: skip
    for c in cols:
        table.add_column(c, justify="right")
    for row in df.select(cols).iter_rows():
        table.add_row(
            *("-" if v is None else f"{v:.4f}" if isinstance(v, float) else escape(str(v)) for v in row)
        )
    console.print(table)


def _print_suggestions(rows: list[dict[str, Any]]) -> None:
    table = Table(title=f"suggestions ({len(rows)})", title_justify="left")
    for col in ("kind", "asset", "channel", "reason"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["kind"], f"{r['asset_id']} {escape(r['asset'])}", r["channel"], escape(r["reason"]))
    console.print(table)


@app.command("suggest")
def suggest_cmd() -> None:
    """Retire, promote, fatigue, consolidate and spec-misfit suggestions (stored as a run)."""
    from aicmo.settings import get_settings
    from aicmo.tasks.media.library import suggest, suggestion_rows

    result = suggest(engine(), lake(), get_settings().media)
    _print_suggestions(suggestion_rows(result["suggestions"]))


@app.command("variants")
def variants_cmd(
    asset_ids: list[int] = typer.Argument(None, help="Assets (default: every approved image)."),
    channel: list[str] = typer.Option([], "--channel", help="Channel spec (repeatable; default: all)."),
) -> None:
    """Render thumbnails, responsive widths and WebP/AVIF/JPEG per channel spec (cached)."""
    from aicmo.settings import get_settings
    from aicmo.storage.db import transaction
    from aicmo.storage.media import AssetFilter, ContentStore, list_assets
    from aicmo.tasks.media.variants import make_variants

    settings = get_settings()
    eng = engine()
    if not asset_ids:
        with transaction(eng) as session:
            asset_ids = [a.id for a in list_assets(session, AssetFilter(kind="image", status="approved"))]
    channels = channel or sorted(settings.media.channel_specs)
    report = make_variants(
        eng, ContentStore(settings.resolved_media_store), asset_ids, channels, settings.media
    )
    console.print(f"variants rendered {report.rendered}, from cache {report.cached}")
    for line in report.skipped or []:
        err_console.print(escape(line))


def demo_step() -> dict[str, Any]:
    """The demo's media step: add the generated creatives, run the media flow, summarise what it found."""
    from aicmo.flows.media import media_suggest
    from aicmo.settings import get_settings

    folder = get_settings().home / "assets"
    summary = media_suggest(paths=[str(folder)], library="sample")
    # names and reasons come from files: escaped before the demo's tables render them
    summary["top_suggestions"] = [
        {k: escape(v) if isinstance(v, str) else v for k, v in row.items()}
        for row in summary["top_suggestions"]
    ]
    return summary
