"""Parsing of option values shared by the commands, with one-line errors naming the option.

Dates are parsed by the command line parser itself (``day_option``/``day_argument``), so a bad one
is refused before the command reads its settings or loads Prefect: an argument error is as quick
as ``--help``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import typer

from aicmo.errors import InputError

DAY_METAVAR = "YYYY-MM-DD"


def parse_day(value: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` as a date (None stays None); a bad value is an error naming ``option``."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option}: not a date (YYYY-MM-DD): {value!r}") from None


def day_parser(option: str) -> Callable[[str], date]:
    """A command line parser of ``YYYY-MM-DD`` whose error names ``option``."""

    def parse(value: str) -> date:
        day = parse_day(value, option)
        assert day is not None
        return day

    parse.__name__ = "date"  # the type name the help pages show
    return parse


def day_option(flag: str, help: str) -> Any:
    """An optional ``--flag YYYY-MM-DD``, a ``date`` (or None) by the time the command runs."""
    return typer.Option(None, flag, help=help, parser=day_parser(flag), metavar=DAY_METAVAR)


def day_argument(name: str, help: str, callback: Callable[..., date] | None = None) -> Any:
    """A required positional day, a ``date`` by the time the command runs (``callback`` checks it
    against the arguments parsed before it)."""
    return typer.Argument(..., help=help, parser=day_parser(name), callback=callback, metavar=name)
