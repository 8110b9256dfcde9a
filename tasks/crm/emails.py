"""Email and phone normalization, and the keyed hash (HMAC) used for suppressions and tombstones.

Addresses are validated by ``email-validator`` (RFC syntax, IDN domains), then normalized so that
one person has one contact: the local part is lower-cased and the domain is kept in its Unicode
form (``joerg@xn--bcher-kva.de`` and ``Joerg@Bücher.DE`` are the same contact).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from aicmo.errors import InputError


class InvalidEmailError(InputError):
    """An address that is not a valid email; the message says why."""


def normalize_email(raw: str) -> str:
    """The normalized form of ``raw`` (trimmed, lower-cased, Unicode domain) or InvalidEmailError."""
    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        raise InvalidEmailError("empty email")
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(str(exc)) from None
    return f"{info.local_part.lower()}@{info.domain.lower()}"


def email_domain(email: str) -> str:
    """The domain of a normalized email."""
    return email.rsplit("@", 1)[1]


_PHONE_JUNK = re.compile(r"[\s().\-/]")


def normalize_phone(raw: str) -> str | None:
    """A phone number reduced to ``+`` and digits (spaces, dots, dashes, brackets removed).

    Returns None when nothing usable is left (fewer than 6 digits or other characters).
    """
    text = _PHONE_JUNK.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    digits = text[1:] if text.startswith("+") else text
    if not digits.isdigit() or len(digits) < 6 or len(digits) > 15:
        return None
    return text


def address_hmac(address: str, key: str) -> str:
    """HMAC-SHA256 (hex) of a normalized address: lets the store recognize it without keeping it."""
    return hmac.new(key.encode(), address.encode(), hashlib.sha256).hexdigest()
