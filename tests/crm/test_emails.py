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


def _reference(raw: str) -> str:
    """email-validator's ``validate_email`` on the whole address: the result the fast path must match."""
    import unicodedata

    from email_validator import EmailNotValidError, validate_email

    text = unicodedata.normalize("NFC", raw.strip())
    if not text:
        return "error: empty email"
    try:
        info = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return f"error: {exc}"
    return f"{info.local_part.lower()}@{info.domain.lower()}"


def _ours(raw: str) -> str:
    try:
        return normalize_email(raw)
    except InvalidEmailError as exc:
        return f"error: {exc}"


TRICKY = [
    "User.Name@Example.COM",
    "POSTMASTER@example.com",
    "Abuse@Example.org",
    "joerg@xn--bcher-kva.de",
    "Joerg@Bücher.DE",
    "JOERG@BÜCHER.de",
    "jörg@bücher.de",
    "Jo\u0308rg@example.com",
    "user@example.com.",
    "user.@example.com",
    ".user@example.com",
    "us..er@example.com",
    "user@.example.com",
    "user@example..com",
    "user@-example.com",
    "user@example-.com",
    '"quoted local"@example.com',
    '"a@b"@example.com',
    '"plain"@example.com',
    "Name <user@example.com>",
    "<user@example.com>",
    "user@[127.0.0.1]",
    "user@[IPv6:::1]",
    "user@localhost",
    "user@example",
    "user@example.local",
    "user@example.invalid",
    "user@test",
    "user@sub.example.co.uk",
    "user+tag@example.com",
    "a!#$%&'*+/=?^_`{|}~-b@example.com",
    "user name@example.com",
    "user@exam ple.com",
    "user@@example.com",
    "user@example@com",
    "@example.com",
    "user@",
    "user",
    "user＠example.com",
    "user@ex\u0301ample.com",
    "user@\u0301example.com",
    "user@EXAMPLE.ΕΛ",
    "用户@例子.广告",
    "user@例子.广告",
    "user@xn--fsqu00a.xn--3lr804guic",
    "user@xn--invalid-.com",
    "user@xn--zz.com",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",
    "user@" + "a" * 63 + ".com",
    "user@" + "a" * 64 + ".com",
    "a" * 60 + "@" + ".".join(["b" * 60] * 4) + ".com",
    "user@exa_mple.com",
    "user@123.com",
    "user@example.123",
    "user@ex\u200bample.com",
    "us\u200ber@example.com",
    "user\t@example.com",
    "user@example.com\u00a0",
    "ﬁle@example.com",
    "user@ﬁle.com",
    "user@Ⅻ.com",
    "user@münchen.de",
    "user@MÜNCHEN.DE",
    "user@xn--mnchen-3ya.de",
    "user@faß.de",
    "user@xn--fa-hia.de",
]


def test_plain_address_fast_path_matches_email_validator_on_tricky_addresses() -> None:
    # The same address is tried twice so the second call uses the remembered domain verdict.
    for raw in TRICKY + TRICKY:
        assert _ours(raw) == _reference(raw), raw


def test_fast_path_matches_email_validator_on_the_sample_files() -> None:
    from pathlib import Path

    from aicmo.tasks.crm.csv_reading import read_csv

    data = Path(__file__).parent / "data"
    seen = 0
    for path in sorted(data.glob("*.csv")):
        table = read_csv(path)
        column = next(i for i, f in table.columns.items() if f == "email")
        for cells in table.records:
            raw = cells[column] if column < len(cells) else ""
            assert _ours(raw) == _reference(raw), (path.name, raw)
            seen += 1
    assert seen > 20


def test_hmac_of_many_addresses_equals_one_by_one() -> None:
    from aicmo.tasks.crm.emails import address_hmacs

    addresses = ["a@example.com", "jörg@bücher.de", "b@example.com"]
    assert address_hmacs(addresses, "k1") == [address_hmac(a, "k1") for a in addresses]
