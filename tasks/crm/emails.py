"""Email and phone normalization, and the keyed hash (HMAC) used for suppressions and tombstones.

Addresses are validated by ``email-validator`` (RFC syntax, IDN domains), then normalized so that
one person has one contact: the local part is lower-cased and the domain is kept in its Unicode
form (``joerg@xn--bcher-kva.de`` and ``Joerg@Bücher.DE`` are the same contact).

Most of email-validator's time goes into the domain (IDNA/UTS-46 checks), and an import has far
fewer domains than addresses. Plain addresses (one ``@``, an ASCII local part, no quotes, angle
brackets or domain literal) therefore take the same steps as ``validate_email`` with the domain's
verdict remembered per domain; everything else goes through ``validate_email`` itself. Both paths
give the same normalized address or the same error message.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import unicodedata
from collections.abc import Iterable

import email_validator
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES
from email_validator.syntax import (
    validate_email_domain_name,
    validate_email_length,
    validate_email_local_part,
)
from email_validator.types import ValidatedEmail

from aicmo.errors import InputError


class InvalidEmailError(InputError):
    """An address that is not a valid email; the message says why."""


def normalize_email(raw: str) -> str:
    """The normalized form of ``raw`` (trimmed, lower-cased, Unicode domain) or InvalidEmailError."""
    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        raise InvalidEmailError("empty email")
    try:
        info = _validate_plain(text) or validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmailError(str(exc)) from None
    return f"{info.local_part.lower()}@{info.domain.lower()}"


@functools.lru_cache(maxsize=65_536)
def _domain_verdict(domain: str) -> tuple[str, str] | str:
    """email-validator's verdict on a domain: ``(domain, ascii_domain)``, or the error message."""
    try:
        info = validate_email_domain_name(
            domain,
            test_environment=email_validator.TEST_ENVIRONMENT,
            globally_deliverable=email_validator.GLOBALLY_DELIVERABLE,
        )
    except EmailNotValidError as exc:
        return str(exc)
    return info["domain"], info["ascii_domain"]


def _validate_plain(text: str) -> ValidatedEmail | None:
    """``validate_email(text, check_deliverability=False)`` for a plain address, None for others.

    Plain: exactly one ``@``, no ``"`` or ``<`` anywhere, a non-empty ASCII local part, and a
    domain that starts with an ASCII character other than ``[``. For such text email-validator's
    own split gives (no display name, the local part as is, not quoted, the domain), and the ASCII
    local part is already NFC; the steps below are then ``validate_email``'s, in its order, with
    the domain check remembered per domain.
    """
    at = text.find("@")
    if at <= 0 or at == len(text) - 1 or "@" in text[at + 1 :] or '"' in text or "<" in text:
        return None
    local, domain = text[:at], text[at + 1 :]
    if not local.isascii() or not domain[0].isascii() or domain[0] == "[":
        return None
    local_info = validate_email_local_part(
        local,
        allow_smtputf8=email_validator.ALLOW_SMTPUTF8,
        allow_empty_local=email_validator.ALLOW_EMPTY_LOCAL,
        quoted_local_part=False,
        strict=email_validator.STRICT,
    )
    ret = ValidatedEmail()
    ret.original = text
    ret.display_name = None
    ret.smtputf8 = local_info["smtputf8"]
    ret.local_part = local_info["local_part"]
    ret.ascii_local_part = local_info["ascii_local_part"]
    if ret.ascii_local_part is not None and ret.ascii_local_part.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        ret.ascii_local_part = ret.ascii_local_part.lower()
        ret.local_part = ret.local_part.lower()
    verdict = _domain_verdict(domain)
    if isinstance(verdict, str):
        raise email_validator.EmailSyntaxError(verdict)
    ret.domain, ret.ascii_domain = verdict
    ret.normalized = ret.local_part + "@" + ret.domain
    if ret.ascii_local_part and ret.ascii_domain:
        ret.ascii_email = ret.ascii_local_part + "@" + ret.ascii_domain
    else:
        ret.ascii_email = None
    validate_email_length(ret)
    return ret


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


def address_hmacs(addresses: Iterable[str], key: str) -> list[str]:
    """:func:`address_hmac` of many addresses, keying the HMAC once and copying it per address."""
    keyed = hmac.new(key.encode(), digestmod=hashlib.sha256)
    digests: list[str] = []
    for address in addresses:
        mac = keyed.copy()
        mac.update(address.encode())
        digests.append(mac.hexdigest())
    return digests
