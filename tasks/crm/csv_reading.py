"""Reading a contacts CSV as users actually have them: odd encodings, BOMs, commas or semicolons.

The bytes are decoded as UTF-8 (a BOM is dropped), UTF-16 when a UTF-16 BOM says so, else
Windows-1252/Latin-1. The delimiter is Excel's ``sep=`` hint line when there is one, else the one
of ``,;\\t|`` under which the header maps to the most known columns. Line endings may be
``\\r\\n``, ``\\n`` or ``\\r``. Headers are matched through a table of common aliases.

A record that cannot be parsed (an unclosed quote, stray text after a closing quote, a cell over
``MAX_CELL_CHARS``) is kept as a broken row with its reason and reading resumes on the next line, so
one bad row never swallows the rows after it. Quoted values after a space (``a, "Foo"``) lose their
quotes, as spreadsheet tools read them. Mailchimp's list export (one JSON array per line) is read too.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from aicmo.errors import InputError

DELIMITERS = (",", ";", "\t", "|")
MAX_CELL_CHARS = 65_536
"""The longest cell a contacts CSV may hold; a longer one rejects its row, not the file."""

# The reader itself must not stop at its 128 KiB default: an oversized cell is a row error.
csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))

FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "e-mail address", "emailaddress", "mail", "email_address"),
    "first_name": ("first name", "first", "firstname", "first_name", "given name", "forename", "vorname"),
    "last_name": ("last name", "last", "lastname", "last_name", "surname", "family name", "nachname"),
    "full_name": ("full name", "fullname", "full_name", "name", "contact name", "contact"),
    "company_name": (
        "company",
        "company name",
        "company_name",
        "organization",
        "organisation",
        "employer",
        "firma",
    ),
    "phone": (
        "phone",
        "phone number",
        "phone_number",
        "mobile",
        "mobile phone",
        "tel",
        "telephone",
        "cell",
        "telefon",
    ),
    "city": ("city", "town", "stadt", "ort"),
    "country": ("country", "country code", "country_code", "land"),
    "tags": ("tags", "tag", "labels", "label"),
    "lifecycle_stage": ("lifecycle stage", "lifecycle_stage", "lifecycle", "stage"),
}


def header_key(text: str) -> str:
    """A header as matched against aliases: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]+", "", text.strip().lower())


_ALIAS_INDEX = {header_key(alias): field for field, aliases in FIELD_ALIASES.items() for alias in aliases}


class NotCsvError(InputError):
    """The file cannot be read as a contacts CSV."""


@dataclass
class CsvTable:
    """A decoded CSV: its header, the field each column maps to, and the data records."""

    path: Path
    encoding: str
    delimiter: str
    header: list[str]
    columns: dict[int, str]  # column index -> field
    ignored: list[str]
    records: list[list[str]]
    first_data_row: int = 2  # the spreadsheet row number of records[0] (3 after a ``sep=`` line)
    broken: dict[int, str] = field(default_factory=dict)  # index in records -> why it could not be read


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read with."""
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotCsvError(f"{path}: not a CSV file (binary content)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise NotCsvError(
                f"{path}: starts with a UTF-16 byte-order mark but is not valid UTF-16 "
                f"({exc.reason} at byte {exc.start}); re-save it as UTF-8 or UTF-16"
            ) from None
    try:
        return data.decode("utf-8-sig"), "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def map_header(header: list[str]) -> tuple[dict[int, str], list[str]]:
    """Column index -> field for the known headers (first one wins), and the ignored header names."""
    columns: dict[int, str] = {}
    ignored: list[str] = []
    for i, name in enumerate(header):
        field = _ALIAS_INDEX.get(header_key(name))
        if field is None or field in columns.values():
            ignored.append(name)
        else:
            columns[i] = field
    return columns, ignored


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _split_first_line(text: str) -> tuple[str, str]:
    parts = _LINE_BREAK.split(text, maxsplit=1)
    return parts[0], (parts[1] if len(parts) > 1 else "")


def read_csv(path: Path) -> CsvTable:
    """Read and decode ``path``; NotCsvError/InputError with the file name if it is not a contacts CSV."""
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    data = path.read_bytes()
    text, encoding = decode(data, path)
    if not text.strip():
        raise NotCsvError(f"{path}: empty file")
    first, rest = _split_first_line(text)
    json_header = _json_array(first)
    if json_header is not None:
        header, records, broken = _json_lines(text, path)
        columns, ignored = map_header(header)
        if "email" not in columns.values():
            raise NotCsvError(f"{path}: JSON-lines export without an email column (found {json_header[:8]})")
        return CsvTable(path, encoding, "json-lines", header, columns, ignored, records, 2, broken)
    if first.lower().startswith("sep=") and len(first) == 5:  # Excel's delimiter hint line
        delimiter = first[4]
        text = rest
        first_data_row = 3
    else:
        first_data_row = 2
        best: tuple[int, int, str] | None = None
        for candidate in DELIMITERS:
            header = next(csv.reader([first], delimiter=candidate), [])
            score = (len(map_header(header)[0]), len(header), candidate)
            if best is None or score[:2] > best[:2]:
                best = score
        assert best is not None
        delimiter = best[2]
    header, records, broken = parse_records(text, delimiter, path)
    header = [h.strip() for h in header]
    columns, ignored = map_header(header)
    if "email" not in columns.values():
        shown = ", ".join(repr(h) for h in header[:8])
        raise NotCsvError(f"{path}: no email column in the header (found {shown}); expected e.g. 'email'")
    return CsvTable(path, encoding, delimiter, header, columns, ignored, records, first_data_row, broken)


def _keep_row(cells: list[str], records: list[list[str]], broken: dict[int, str]) -> None:
    """Append a row, or an empty placeholder and the reason when a cell is too big to import."""
    too_big = _oversized(cells)
    if too_big:
        broken[len(records)] = too_big
        records.append([])
    else:
        records.append(cells)


def _oversized(cells: list[str]) -> str | None:
    longest = max((len(c) for c in cells), default=0)
    if longest > MAX_CELL_CHARS:
        return f"a cell of {longest:,} characters (the limit is {MAX_CELL_CHARS:,})"
    return None


def parse_records(text: str, delimiter: str, path: Path) -> tuple[list[str], list[list[str]], dict[int, str]]:
    """The header, the data records and the records that could not be read (index -> reason).

    Parsing is strict; where a record breaks (an unclosed quote runs to the end of the file, text
    follows a closing quote), that record is reported and reading starts again on its next line.
    """
    lines = io.StringIO(text, newline="").readlines()
    records: list[list[str]] = []
    broken: dict[int, str] = {}
    header: list[str] | None = None
    pos = 0
    while pos < len(lines):
        reader = csv.reader(iter(lines[pos:]), delimiter=delimiter, strict=True, skipinitialspace=True)
        while True:
            started = reader.line_num
            try:
                cells = next(reader)
            except StopIteration:
                pos = len(lines)
                break
            except csv.Error as exc:
                reason = str(exc)
                if "unexpected end of data" in reason or "EOF" in reason:
                    reason = "a quote opened in this row is never closed"
                elif "expected after" in reason:
                    reason = "text follows a closing quote (a quote is left open or not doubled)"
                if header is None:
                    raise NotCsvError(f"{path}: the header line is not readable CSV ({reason})") from None
                broken[len(records)] = reason
                records.append([])
                pos += started + 1
                break
            if header is None:
                header = cells
                continue
            _keep_row(cells, records, broken)
    return header or [], records, broken


def _json_array(line: str) -> list[str] | None:
    """The line as a JSON array of strings, or None when it is not one."""
    stripped = line.strip()
    if not (stripped.startswith("[") and stripped.endswith("]")):
        return None
    try:
        value = json.loads(stripped)
    except ValueError:
        return None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return None


def _json_lines(text: str, path: Path) -> tuple[list[str], list[list[str]], dict[int, str]]:
    """Mailchimp's list export: a JSON array of column names, then one JSON array per member."""
    lines = [line for line in io.StringIO(text, newline="").read().splitlines() if line.strip()]
    header = json.loads(lines[0])
    records: list[list[str]] = []
    broken: dict[int, str] = {}
    for line in lines[1:]:
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            broken[len(records)] = f"not a JSON array ({exc.msg})"
            records.append([])
            continue
        if not isinstance(value, list):
            broken[len(records)] = "not a JSON array"
            records.append([])
            continue
        cells = ["" if v is None else str(v) for v in value]
        _keep_row(cells, records, broken)
    return header, records, broken
