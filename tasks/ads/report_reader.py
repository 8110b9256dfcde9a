"""Read one ad-platform report file into normalized rows: one per day, platform, account, campaign,
ad set, ad and currency, with impressions, clicks, spend, conversions and conversion value.

The file is read as the platform wrote it: UTF-16 tab-separated ("CSV for Excel") or UTF-8 (with
or without a byte-order mark) comma-separated; a title and a date-range line above the header;
"Total: ..." and account-total rows; `` --`` placeholders, ``< 10%`` values and quoted thousands
separators; dates as ``2026-11-03``, ``Nov 3, 2026``, ``11/03/2026`` or ``03/11/2026``. Parsing is
one Polars CSV read with every column as text and then column expressions; no per-row Python.

A row whose date or a number cannot be read is rejected with its line number and the field; the
other rows go through. A file that is none of the formats is an ``InputError`` saying what its
first lines looked like.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from aicmo.errors import InputError
from aicmo.progress import Advance, no_progress
from aicmo.tasks.ads.report_formats import (
    COUNT_FIELDS,
    FORMATS,
    META_SPEND,
    MIN_SIGNATURE,
    MONEY_FIELDS,
    TEXT_FIELDS,
    ReportFormat,
)

HEADER_SEARCH_LINES = 12
SNIFF_BYTES = 64 * 1024
TRANSCODE_CHUNK = 4 * 1024 * 1024  # bytes of UTF-16 decoded at a time (an even number)
MAX_REJECTS_SHOWN = 5
# Dates people's accounts export, unambiguous ones first; month-first/day-first are decided below.
ISO_DATE = "%Y-%m-%d"  # the one format the CSV reader parses itself
UNAMBIGUOUS_DATE_FORMATS = (
    ISO_DATE,
    "%b %d, %Y",
    "%B %d, %Y",
    "%a, %b %d, %Y",
    "%d %b %Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
)
MONTH_FIRST = "%m/%d/%Y"
DAY_FIRST = "%d/%m/%Y"
PLACEHOLDERS = ("", "--", "-", "—", "N/A", "n/a")
_RANGE_SPLIT = re.compile(r"\s+[-–]\s+")


@dataclass
class ParsedReport:
    """One file's normalized rows and what the reader noticed on the way."""

    path: Path
    format: ReportFormat
    rows: pl.DataFrame  # date, platform, account, campaign, ad_set, ad, currency, counts, money
    start: date | None  # the days the report covers (its date-range line, else its rows)
    end: date | None
    warnings: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    rejected_rows: int = 0
    date_format: str | None = None  # the strptime format its dates were read with
    date_guessed: bool = False  # month-first vs day-first read both ways (decided by ``day_first``)
    declared_range: bool = False  # start/end came from the report's date-range line
    records: int = 0  # data records read below the header (totals and bad rows included)
    header_index: int = 0  # lines above the header (title, date range)
    float_columns: list[str] = field(default_factory=list)  # raw headers first tried as plain numbers
    decorations: dict[str, str] = field(default_factory=dict)  # how its text number columns read
    date_columns: list[str] = field(default_factory=list)  # raw headers later chunks try as ISO dates
    null_values: list[str] = field(default_factory=list)  # placeholders seen in its plain-number columns


def _utf16_to_utf8(raw: bytes, encoding: str) -> bytes:
    """UTF-16 bytes as UTF-8, decoded a chunk at a time.

    Decoding the whole file at once holds the bytes, a str of the same size and the UTF-8 copy
    together (about 2.5x the file); chunk by chunk, only the UTF-8 result and one chunk are held.
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    view = memoryview(raw)
    parts = [
        decoder.decode(view[i : i + TRANSCODE_CHUNK]).encode("utf-8")
        for i in range(0, len(view), TRANSCODE_CHUNK)
    ]
    parts.append(decoder.decode(b"", final=True).encode("utf-8"))
    return b"".join(parts)


def _to_utf8(raw: bytes, path: Path) -> bytes:
    """The file's bytes as UTF-8 without a byte-order mark (UTF-16 "CSV for Excel" transcoded)."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _utf16_to_utf8(raw, "utf-16")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if len(raw) > 1 and raw[1:2] == b"\x00" and raw[0:1] != b"\x00":  # UTF-16 LE without a BOM
        return _utf16_to_utf8(raw, "utf-16-le")
    if raw.isascii():
        return raw
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace").encode("utf-8")  # an Excel re-save
    return raw


def _split(line: str) -> tuple[list[str], str]:
    """The fields of one line and its separator (tab, comma or semicolon: whichever splits most)."""
    best: tuple[list[str], str] = ([line], ",")
    for sep in ("\t", ",", ";"):
        fields = next(csv.reader([line], delimiter=sep), [])
        if len(fields) > len(best[0]):
            best = (fields, sep)
    return [f.strip() for f in best[0]], best[1]


def _find_header(head: str, path: Path) -> tuple[int, list[str], str, ReportFormat]:
    """Which of the first lines is the header, its columns, separator and format."""
    lines = head.splitlines()[:HEADER_SEARCH_LINES]
    best: tuple[int, int, list[str], str, ReportFormat] | None = None
    for index, line in enumerate(lines):
        headers, sep = _split(line)
        for fmt in FORMATS:
            score = fmt.signature(headers)
            if score >= MIN_SIGNATURE and (best is None or score > best[0]):
                best = (score, index, headers, sep, fmt)
        if best is not None:
            break
    if best is None:
        shown = " | ".join(repr(line[:80]) for line in lines[:3]) or "an empty file"
        raise InputError(
            f"{path}: not a Google Ads, Meta Ads Manager or generic ad report; its first lines are {shown} "
            "(expected a header such as 'Day, Campaign, Ad group, Impr., Clicks, Cost' or "
            "'Reporting starts, Campaign name, Amount spent (USD)' or 'date, platform, campaign, spend, currency')"
        )
    _, index, headers, sep, fmt = best
    return index, headers, sep, fmt


def has_header(data: bytes, path: Path) -> bool:
    """Whether ``data`` (whole lines from the file's start) holds its header line, or enough lines
    that a header would have been found (then reading it says what the file looked like)."""
    head = data[:SNIFF_BYTES].decode("utf-8", errors="replace")
    if head.count("\n") >= HEADER_SEARCH_LINES:
        return True
    try:
        _find_header(head, path)
    except InputError:
        return False
    return True


def _declared_range(preamble: list[str], day_first: bool) -> tuple[date | None, date | None]:
    """The report's date range from a line such as ``"November 1, 2026 - November 30, 2026"``."""
    for line in preamble:
        parts = _RANGE_SPLIT.split(line.strip().strip('"').strip())
        if len(parts) != 2:
            continue
        days = pl.Series([p.strip() for p in parts])
        fmt = _date_format(days, day_first)[0]
        if fmt is not None:
            parsed = days.str.to_date(fmt, strict=False)
            if parsed.null_count() == 0:
                return parsed[0], parsed[1]
    return None, None


def _date_format(values: pl.Series, day_first: bool) -> tuple[str | None, bool]:
    """The format that reads every value, and whether month-first vs day-first was a guess."""
    sample = values.drop_nulls().unique()
    if sample.len() == 0:
        return None, False
    for fmt in UNAMBIGUOUS_DATE_FORMATS:
        if sample.str.to_date(fmt, strict=False).null_count() == 0:
            return fmt, False
    month_first = sample.str.to_date(MONTH_FIRST, strict=False).null_count() == 0
    day_first_ok = sample.str.to_date(DAY_FIRST, strict=False).null_count() == 0
    if month_first and day_first_ok:
        return (DAY_FIRST if day_first else MONTH_FIRST), True
    if month_first or day_first_ok:
        return (MONTH_FIRST if month_first else DAY_FIRST), False
    # Some rows are bad: take the format that reads the most, the rest are rejected row by row.
    candidates = [*UNAMBIGUOUS_DATE_FORMATS, MONTH_FIRST, DAY_FIRST]
    counts = {fmt: sample.len() - sample.str.to_date(fmt, strict=False).null_count() for fmt in candidates}
    fmt = max(candidates, key=lambda f: counts[f])
    return (fmt if counts[fmt] else None), False


_PLACEHOLDERS = pl.lit(pl.Series(PLACEHOLDERS, dtype=pl.String).implode())  # built once, not per chunk


def _clean_text(name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    return pl.when(text.is_in(_PLACEHOLDERS)).then(None).otherwise(text)


Decoration = str  # "plain" | "commas" (thousands separators only) | "other"


def _number(name: str, decoration: Decoration = "other") -> pl.Expr:
    """A number from text: placeholders are null; ``<``/``>`` bounds, thousands separators, ``%`` and
    currency signs dropped; anything else left over makes it unreadable (null).

    The column's ``decoration`` picks the cheapest cleaning that reads it: none for plain numbers,
    one literal replacement for thousands separators, a regular expression otherwise.
    """
    text = _clean_text(name)
    if decoration == "commas":
        text = text.str.replace_all(",", "", literal=True)
    elif decoration == "other":
        text = text.str.strip_chars_start("<> ").str.replace_all(r"[,\s%$€£¥]", "")
    return text.cast(pl.Float64, strict=False)


def _decorated(columns: list[str]) -> list[pl.Expr]:
    """Flags of how each text column's numbers are decorated (see ``_decoration``)."""
    return [
        *(pl.col(c).str.contains(",", literal=True).any().alias(f"{c}\0commas") for c in columns),
        *(pl.col(c).str.contains(r"[%<>$€£¥]|\S\s+\S").any().alias(f"{c}\0other") for c in columns),
    ]


def _decoration(found: dict[str, bool], column: str) -> Decoration:
    """Plain, thousands separators only, or more, from the flags of ``_decorated``."""
    if found[f"{column}\0other"]:
        return "other"
    return "commas" if found[f"{column}\0commas"] else "plain"


def _read_frame(
    data: bytes,
    sep: str,
    path: Path,
    columns: list[int] | None = None,
    floats: list[str] | None = None,
    skip_lines: int = 0,
    dates: list[str] | None = None,
    nulls: list[str] | None = None,
) -> pl.DataFrame:
    """Every column as text, except ``floats`` and ``dates`` (raw header names: plain numbers and
    ISO dates) parsed by the CSV reader itself, ``nulls`` read as missing.

    Parsing in the reader saves a text column and a conversion per column; if any value of those
    columns turns out not to read, the whole piece is read as text instead (and the value is
    reported by line).
    """
    options: dict[str, Any] = {
        "columns": columns,
        "separator": sep,
        "truncate_ragged_lines": True,
        "quote_char": '"',
        "skip_lines": skip_lines,  # the preamble, skipped by the reader rather than by copying the body
    }
    if floats or dates:
        try:
            return pl.read_csv(
                data,
                infer_schema=False,
                schema_overrides={
                    **dict.fromkeys(floats or (), pl.Float64),
                    **dict.fromkeys(dates or (), pl.Date),
                },
                null_values=nulls or None,  # each placeholder checked costs every field a comparison
                **options,
            )
        except pl.exceptions.PolarsError:
            pass
    try:
        return pl.read_csv(data, infer_schema=False, **options)
    except pl.exceptions.PolarsError as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None


def _plain_float_columns(sample: pl.DataFrame, names: list[str]) -> tuple[list[str], list[str]]:
    """Columns of a text sample whose every value is a plain number or a placeholder, and the
    placeholders they hold (the CSV reader reads those as missing)."""
    plain = []
    for name in names:
        text = _clean_text(name)
        check = sample.select(
            (text.is_null() | text.cast(pl.Float64, strict=False).is_not_null()).all()
            & ~pl.col(name).str.contains(r"^\s|\s$").any()
        )
        if check.item():
            plain.append(name)
    held = (
        sample.select(pl.concat_list(plain).explode().unique().alias("v")).to_series().drop_nulls().to_list()
        if plain
        else []
    )
    return plain, sorted(v for v in held if v and v.strip() in PLACEHOLDERS)


def read_report(
    path: Path,
    *,
    currency: str | None = None,
    account: str | None = None,
    day_first: bool = False,
    data: bytes | None = None,
    date_format: str | None = None,
    first_line: int | None = None,
    float_columns: list[str] | None = None,
    decorations: dict[str, str] | None = None,
    date_columns: list[str] | None = None,
    null_values: list[str] | None = None,
    utf8: bool = False,
) -> ParsedReport:
    """Normalized rows of one report file (``data`` instead of reading ``path`` when given).

    ``currency`` and ``account`` fill in what a file does not say (Google's UI leaves both out
    unless the "Currency code" and "Customer ID" columns were added); ``day_first`` decides dates
    such as 03/11/2026 that read both ways. A streamed file's later chunks (its header line
    followed by a run of its records) pass the ``date_format`` its first chunk was read with and
    the file's line number of their first record (``first_line``), so rejects name file lines,
    and the columns the first chunk found to hold plain numbers (``float_columns``), so a chunk
    is read once instead of sampled first (a chunk where one of them is not a plain number is
    read as text, as any file is), and how its text number columns are decorated
    (``decorations``), so a chunk is not scanned for it first (a chunk with a value that the
    decoration does not read is read again with its own); the first chunk's ISO date columns
    (``date_columns``) are parsed by the CSV reader too, and only the placeholders it saw in its
    plain-number columns (``null_values``) are looked for. ``utf8`` says ``data`` is UTF-8 already
    (a piece of ``utf8_chunks``), so it is not checked again.
    """
    try:
        raw = (
            data if utf8 and data is not None else _to_utf8(path.read_bytes() if data is None else data, path)
        )
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    head = raw[:SNIFF_BYTES].decode("utf-8", errors="replace")
    index, headers, sep, fmt = _find_header(head, path)
    offset = 0
    for _ in range(index):
        offset = raw.index(b"\n", offset) + 1
    preamble = head.splitlines()[:index]
    warnings: list[str] = []

    used = {f: fmt.header_for(f, headers) for f in (*fmt.columns, "spend")}
    missing = [
        f"{f} ({' or '.join(fmt.columns[f]) or 'Amount spent (XXX)'})"
        for f in fmt.required
        if used.get(f) is None
    ]
    if fmt.name == "meta" and used.get("spend") is None:
        missing = [m for m in missing if not m.startswith("spend")] + ["spend (Amount spent (XXX))"]
    if missing:
        raise InputError(f"{path}: {fmt.label} lacks required column(s): {', '.join(missing)}")
    unknown = [h for h in headers if h not in used.values() and not fmt.is_derived(h)]
    if unknown:
        warnings.append(f"{path}: ignored unknown column(s): {', '.join(unknown)}")
    # Read only the columns used (and the first, where Google puts its "Total: ..." labels).
    wanted = sorted({0, *(headers.index(h) for h in used.values() if h is not None)})
    numeric = [*COUNT_FIELDS, "conversions", *MONEY_FIELDS]
    number_columns = [str(used[f]) for f in numeric if used.get(f)]
    if float_columns is None:
        sample_end = raw.rfind(b"\n", offset, offset + SNIFF_BYTES) + 1 or len(raw)
        sample = _read_frame(raw[offset:sample_end], sep, path, wanted)
        raw_names = dict(zip((c.strip() for c in sample.columns), sample.columns, strict=True))
        sample = sample.rename({c: c.strip() for c in sample.columns})
        plain, nulls = _plain_float_columns(sample, number_columns)
        floats = [raw_names[c] for c in plain]
        del sample
    else:
        floats, nulls = float_columns, list(null_values or ())
    frame = _read_frame(raw, sep, path, wanted, floats, skip_lines=index, dates=date_columns, nulls=nulls)
    del raw  # the file's bytes are not needed once they are parsed
    frame = frame.rename({c: c.strip() for c in frame.columns})

    # Totals: Google's "Total: ..." rows (in any of the first columns), Meta's account-total row
    # (no campaign, ad set or ad name).
    first = frame.columns[0]
    is_total = (
        pl.col(first).str.contains(r"^\s*Total: ") if frame.schema[first] == pl.String else pl.lit(False)
    )
    if used.get("campaign") is not None:
        is_total = is_total | pl.col(str(used["campaign"])).str.contains(r"^\s*Total: ")
        if fmt.name == "meta":
            names = [str(used[f]) for f in ("campaign", "ad_set", "ad") if used.get(f)]
            is_total = is_total | pl.all_horizontal(pl.col(n).is_null() for n in names)
    kept = ~is_total.fill_null(False)

    file_currency = None
    if fmt.name == "meta" and used.get("spend"):
        match = META_SPEND.match(str(used["spend"]))
        file_currency = match.group(1).upper() if match else None

    text_numbers = [c for c in number_columns if frame.schema[c] == pl.String]
    known = decorations or {}
    undecided = [c for c in text_numbers if c not in known]
    found: dict[str, bool] = frame.select(_decorated(undecided)).row(0, named=True) if undecided else {}
    decorated = {c: known[c] if c in known else _decoration(found, c) for c in text_numbers}

    def text(f: str, fallback: str | None) -> pl.Expr:
        col = used.get(f)
        expr = _clean_text(col) if col else pl.lit(None, pl.String)
        return expr.fill_null(pl.lit(fallback, pl.String)).alias(f)

    date_col = str(used["date"])
    date_text = _clean_text(date_col)
    date_fmt: str | None = date_format  # a later chunk: its file's format is decided
    guessed = False
    if not date_format:
        dates = frame.lazy().filter(kept).select(date_text.unique()).collect().to_series()
        date_fmt, guessed = _date_format(dates, day_first)
    if guessed:
        style = "day-first" if date_fmt == DAY_FIRST else "month-first"
        warnings.append(
            f"{path}: dates such as {dates.drop_nulls()[0]!r} read both ways; read {style} "
            f"({'unset' if day_first else 'set'} --day-first / AICMO_ADS_DAY_FIRST to change)"
        )
    start, end = _declared_range(preamble, day_first)
    declared = start is not None
    if frame.schema[date_col] == pl.Date:  # read by the CSV reader
        parsed_date = pl.col(date_col)
    else:
        parsed_date = date_text.str.to_date(date_fmt, strict=False) if date_fmt else pl.lit(None, pl.Date)
    columns = [
        pl.col("__line"),
        parsed_date.alias("date"),
        pl.lit(fmt.platform, pl.String).alias("platform") if fmt.platform else text("platform", None),
        text("account", account or ""),
        text("campaign", None),
        text("ad_set", ""),
        text("ad", ""),
        text("currency", file_currency or currency).str.to_uppercase(),
    ]
    whole = first_line is None  # a whole file, or its first chunk (where repeated keys are summed)

    def counted(f: str, value: pl.Expr) -> pl.Expr:
        """A number as read; in a later chunk, counts already rounded to whole numbers."""
        if whole or f not in COUNT_FIELDS:
            return value.alias(f)
        return value.round(0).cast(pl.Int64).alias(f)

    for f in numeric:
        col = used.get(f)
        if col and col not in text_numbers:  # parsed by the reader
            columns.append(counted(f, pl.col(col).fill_null(0.0)))
            columns.append(pl.lit(False).alias(f"__bad_{f}"))
        elif col:
            number = _number(col, decorated[col])
            columns.append(counted(f, number.fill_null(0.0)))
            columns.append((_clean_text(col).is_not_null() & number.is_null()).alias(f"__bad_{f}"))
        else:
            columns.append(counted(f, pl.lit(0.0)))
            columns.append(pl.lit(False).alias(f"__bad_{f}"))
    if fmt.name == "meta" and used.get("reporting_ends") and used["date"] != "Day":
        ends_col = str(used["reporting_ends"])
        if frame.schema[ends_col] == pl.Date:
            ends = pl.col(ends_col)
        elif date_fmt:
            ends = _clean_text(ends_col).str.to_date(date_fmt, strict=False)
        else:
            ends = pl.lit(None, pl.Date)
        columns.append(ends.alias("__ends"))
        columns.append((ends.is_not_null() & (ends != parsed_date)).alias("__span"))
    checks = [
        (pl.col("date").is_null(), f"date ({date_col}) not a date"),
        (pl.col("campaign").is_null(), "campaign is empty"),
        (pl.col("currency").is_null(), "no currency (add the currency column or pass --currency)"),
        (~pl.col("currency").str.contains(r"^[A-Z]{3}$").fill_null(True), "currency is not an ISO code"),
        *((pl.col(f"__bad_{f}"), f"{used.get(f)} is not a number") for f in numeric),
    ]
    # One lazy pass: totals out, every column cleaned (shared sub-expressions computed once), bad rows flagged.
    records = frame.height
    rows = (
        frame.lazy()
        .with_row_index("__line", offset=index + 2 if first_line is None else first_line)
        .filter(kept)
        .select(columns)
        .with_columns(pl.any_horizontal(cond for cond, _ in checks).alias("__bad"))
        .collect()
    )
    del frame
    if "__span" in rows.columns and rows["__span"].any():
        row = rows.filter(pl.col("__span")).row(0, named=True)
        raise InputError(
            f"{path}: line {row['__line']} covers {row['date']} to {row['__ends']}, not one day; "
            "export with the breakdown By time > Day"
        )

    any_bad = bool(rows["__bad"].any())
    misread = [f for f in numeric if used.get(f) in known and decorated[str(used[f])] != "other"]
    if any_bad and any(rows[f"__bad_{f}"].any() for f in misread):
        # A value the file's first chunk did not prepare for (say, a "$" in a column that had only
        # thousands separators): read this chunk again, deciding from its own values.
        return read_report(
            path,
            currency=currency,
            account=account,
            day_first=day_first,
            data=data,
            date_format=date_format,
            first_line=first_line,
            float_columns=float_columns,
            date_columns=date_columns,
            null_values=null_values,
            utf8=utf8,
        )
    bad = rows.filter(pl.col("__bad")) if any_bad else None
    if bad is not None:  # spell out the problems of the bad rows only
        problems = [pl.when(cond).then(pl.lit(text)) for cond, text in checks]
        bad = bad.with_columns(pl.concat_str(problems, separator="; ", ignore_nulls=True).alias("__problem"))
    rejected = (
        [
            f"{path}: line {line}: {problem}"
            for line, problem in bad.head(MAX_REJECTS_SHOWN).select("__line", "__problem").iter_rows()
        ]
        if bad is not None
        else []
    )
    good = rows.filter(~pl.col("__bad")) if bad is not None else rows
    if start is None and good.height:
        start, end = good["date"].min(), good["date"].max()  # type: ignore[assignment]
    keys = ["date", *TEXT_FIELDS]
    normalized = pl.DataFrame([good.get_column(c) for c in keys + numeric])  # the helper columns left out
    if whole:
        # Distinct key hashes mean distinct keys; otherwise (several ads and no ad column, say) sum.
        if normalized.select(pl.struct(keys).hash().n_unique()).item() < normalized.height:
            normalized = normalized.group_by(keys).agg(pl.col(c).sum() for c in numeric).sort(keys)
        normalized = normalized.with_columns(pl.col(c).round(0).cast(pl.Int64) for c in COUNT_FIELDS)
    # (in a later chunk, keys repeated across chunks are summed where they are staged anyway)
    return ParsedReport(
        path=path,
        format=fmt,
        rows=normalized,
        start=start,
        end=end,
        warnings=warnings,
        rejected=rejected,
        rejected_rows=bad.height if bad is not None else 0,
        date_format=date_fmt,
        date_guessed=guessed,
        declared_range=declared,
        records=records,
        header_index=index,
        float_columns=floats,
        decorations=decorated,
        date_columns=(
            [str(used[f]) for f in ("date", "reporting_ends") if used.get(f)] if date_fmt == ISO_DATE else []
        ),
        null_values=nulls,
    )


def utf8_chunks(path: Path, chunk_bytes: int, on_read: Advance = no_progress) -> Iterator[bytes]:
    """The file as UTF-8 (UTF-16 transcoded, a byte-order mark dropped, an Excel cp1252 re-save
    decoded) in pieces of about ``chunk_bytes`` that end at a line break outside quotes, so each
    piece holds whole records. The first piece starts with the file's preamble and header.
    ``on_read`` is told how many of the file's bytes each read took (a progress display).
    """
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        head = handle.read(4)
        on_read(len(head))
        decoder: codecs.IncrementalDecoder | None = None
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            decoder = codecs.getincrementaldecoder("utf-16")()
        elif len(head) > 1 and head[1:2] == b"\x00" and head[0:1] != b"\x00":
            decoder = codecs.getincrementaldecoder("utf-16-le")()
        elif head.startswith(b"\xef\xbb\xbf"):
            head = head[3:]
        pending = b""
        block = head  # bytes read but not yet converted (a UTF-8 block ends at a line break)
        while True:
            more = handle.read(chunk_bytes if decoder is None else 2 * chunk_bytes)
            on_read(len(more))
            block += more
            last = not more
            if decoder is not None:
                text, block = decoder.decode(block, final=last).encode("utf-8"), b""
            else:
                cut = len(block) if last else block.rfind(b"\n") + 1
                text, block = _as_utf8(block[:cut]), block[cut:]
            pending += text
            while len(pending) >= chunk_bytes or (last and pending):
                cut = len(pending) if last else _record_end(pending)
                if cut <= 0:
                    break
                yield pending[:cut]
                pending = pending[cut:]
            if last:
                return


def _as_utf8(block: bytes) -> bytes:
    """A run of whole lines as UTF-8: as they are when valid, else read as cp1252 (an Excel re-save)."""
    if block.isascii():
        return block
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return block.decode("cp1252", errors="replace").encode("utf-8")
    return block


def _record_end(data: bytes) -> int:
    """The end (after the line break) of the last whole record in ``data``, or 0 if there is none:
    a line break with an even number of quotes before it is outside any quoted field."""
    quotes = data.count(b'"')
    pos = data.rfind(b"\n")
    while pos >= 0:
        after = data.count(b'"', pos)
        if (quotes - after) % 2 == 0:
            return pos + 1
        pos = data.rfind(b"\n", 0, pos)
    return 0
