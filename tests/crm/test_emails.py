"""Email and phone normalization: one person, one normalized address."""

from __future__ import annotations

import pytest

from aicmo.tasks.crm.emails import InvalidEmailError, address_hmac, normalize_email, normalize_phone


def test_case_whitespace_and_idn_forms_normalize_to_one_address() -> None:
    forms = ["  Joerg@Bücher.DE ", "joerg@xn--bcher-kva.de", "JOERG@BÜCHER.de"]
    assert {normalize_email(f) for f in forms} == {"joerg@bücher.de"}


@pytest.mark.parametrize(
    "raw", ["", "plainaddress", "a@b", "two@@example.com", "a b@example.com", "@example.com", "x@-bad-.com"]
)
def test_invalid_addresses_are_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidEmailError) as info:
        normalize_email(raw)
    assert str(info.value)


def test_phone_numbers_reduce_to_plus_and_digits() -> None:
    assert normalize_phone("+1 (555) 010-2000") == "+15550102000"
    assert normalize_phone("0049 30 1234567") == "+49301234567"
    assert normalize_phone("call me") is None
    assert normalize_phone("12") is None


def test_hmac_depends_on_key_and_address() -> None:
    assert address_hmac("a@example.com", "k1") == address_hmac("a@example.com", "k1")
    assert address_hmac("a@example.com", "k1") != address_hmac("a@example.com", "k2")
    assert "a@example.com" not in address_hmac("a@example.com", "k1")
