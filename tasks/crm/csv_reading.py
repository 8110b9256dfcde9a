"""Reading a contacts CSV as users actually have them: odd encodings, BOMs, commas or semicolons.

The bytes are decoded as UTF-8 (a BOM is dropped), UTF-16 when a UTF-16 BOM says so, else
Windows-1252/Latin-1. The delimiter is Excel's ``sep=`` hint line when there is one, else the one
of ``,;\\t|`` under which the header maps to the most known columns. Line endings may be
``\\r\\n``, ``\\n`` or ``\\r``. Headers are matched through a table of common aliases.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from aicmo.errors import InputError

DELIMITERS = (",", ";", "\t", "|")

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


def _header_key(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", text.strip().lower())


_ALIAS_INDEX = {_header_key(alias): field for field, aliases in FIELD_ALIASES.items() for alias in aliases}


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


def decode(data: bytes, path: Path) -> tuple[str, str]:
    """The text of ``data`` and the encoding it was read with."""
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise NotCsvError(f"{path}: not a CSV file (binary content)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16"), "utf-16"
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
        field = _ALIAS_INDEX.get(_header_key(name))
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
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        records = list(reader)
    except csv.Error as exc:
        raise NotCsvError(f"{path}: not a readable CSV file ({exc})") from None
    columns, ignored = map_header(header)
    if "email" not in columns.values():
        shown = ", ".join(repr(h) for h in header[:8])
        raise NotCsvError(f"{path}: no email column in the header (found {shown}); expected e.g. 'email'")
    return CsvTable(path, encoding, delimiter, header, columns, ignored, records, first_data_row)
