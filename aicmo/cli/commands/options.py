"""Parsing of option values shared by the commands, with one-line errors naming the option."""

from __future__ import annotations

from datetime import date

from aicmo.errors import InputError


def parse_day(value: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` as a date (None stays None); a bad value is an error naming ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: not a date (YYYY-MM-DD): {value!r}") from None
