"""Companies and contacts: realistic names, emails on company and free-mail domains, places, consent.

Everything is drawn as integer index arrays into the word lists and assembled with Polars string
expressions, so a million contacts take seconds. Emails are unique by construction: duplicates of
a generated address get a ``.N`` suffix before the ``@``, a form no base pattern produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from aicmo.tasks.sample import vocabulary as vocab
from aicmo.tasks.sample.purchases import US_PER_DAY

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

COMPANY_EMAIL_SHARE = 0.62
NON_CUSTOMER_STAGES = ("subscriber", "lead", "mql", "sql", "opportunity", "churned")
NON_CUSTOMER_STAGE_WEIGHTS = (0.45, 0.28, 0.12, 0.06, 0.03, 0.06)


def _pick(rng: np.random.Generator, n: int, weights: tuple[float, ...] | list[float]) -> IntArray:
    w = np.asarray(weights, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum()).astype(np.int64)


def _take(values: tuple[str, ...] | list[str], idx: IntArray) -> pl.Series:
    return pl.Series(list(values), dtype=pl.String).gather(idx)


def make_companies(rng: np.random.Generator, n: int) -> pl.DataFrame:
    """``n`` companies with unique domains, names, industries, sizes and countries."""
    n_adj, n_noun, n_tld = len(vocab.COMPANY_ADJECTIVES), len(vocab.COMPANY_NOUNS), len(vocab.TLDS)
    combos = n_adj * n_noun * n_tld
    code = rng.permutation(max(n, combos))[:n] if n <= combos else rng.permutation(n)
    base, repeat = code % combos, code // combos
    adj, noun, tld = base // (n_noun * n_tld), (base // n_tld) % n_noun, base % n_tld
    suffix = rng.integers(0, len(vocab.COMPANY_SUFFIXES), n)
    city = _pick(rng, n, vocab.CITY_WEIGHTS)
    df = pl.DataFrame(
        {
            "adj": _take(vocab.COMPANY_ADJECTIVES, adj),
            "noun": _take(vocab.COMPANY_NOUNS, noun),
            "tld": _take(vocab.TLDS, tld),
            "repeat": repeat,
            "suffix": _take(vocab.COMPANY_SUFFIXES, suffix),
            "industry": _take(vocab.INDUSTRIES, rng.integers(0, len(vocab.INDUSTRIES), n)),
            "employees": np.maximum(1, np.round(rng.lognormal(3.6, 1.5, n))).astype(np.int64),
            "country": _take([c[1] for c in vocab.CITIES], city),
        }
    )
    stem = pl.concat_str("adj", "noun") + pl.when(pl.col("repeat") > 0).then(
        pl.col("repeat").cast(pl.String)
    ).otherwise(pl.lit(""))
    return df.select(
        pl.concat_str(stem, pl.lit("."), "tld").alias("domain"),
        pl.concat_str(
            pl.col("adj").str.to_titlecase(),
            pl.lit(" "),
            pl.col("noun").str.to_titlecase(),
            pl.lit(" "),
            "suffix",
        ).alias("name"),
        "industry",
        "employees",
        "country",
        pl.lit(False).alias("is_free_mail"),
        pl.lit("sample").alias("source"),
    )


@dataclass(frozen=True)
class ContactDraw:
    """Contacts as a frame (store columns plus ``company_domain``) and their channel eligibility."""

    frame: pl.DataFrame
    email_ok: BoolArray  # email consent confirmed and not suppressed
    sms_ok: BoolArray
    push_ok: BoolArray


def make_contacts(
    rng: np.random.Generator,
    n: int,
    companies: pl.DataFrame,
    *,
    end_us: int,
    first_order_us: IntArray,
    order_counts: IntArray,
) -> ContactDraw:
    """``n`` contacts; those with ``first_order_us >= 0`` are customers (their stage and dates follow).

    The steps draw from ``rng`` in a fixed order (identity, lifecycle, consent, tags, source), so
    a seed always gives the same contacts.
    """
    people = _with_emails(_draw_identities(rng, n, companies))
    stage, created_us, changed_us = _draw_lifecycle(rng, n, end_us, first_order_us, order_counts)
    consent = _draw_consent(rng, n, people["has_phone"].to_numpy())
    tag_list = _draw_tags(rng, n)
    utc = pl.Datetime("us", "UTC")
    frame = people.select(
        "email",
        "first_name",
        "last_name",
        pl.when("has_phone").then(pl.format("+{}{}", "cc", "digits")).alias("phone"),
        pl.when("on_company").then(pl.col("company_name")).alias("company_name"),
        pl.when("on_company").then(pl.col("company_domain")).alias("company_domain"),
        pl.when("has_place").then(pl.col("city")).alias("city"),
        pl.when("has_place").then(pl.col("country")).alias("country"),
    ).with_columns(
        tag_list,
        _take(vocab.CONTACT_SOURCES, _pick(rng, n, vocab.CONTACT_SOURCE_WEIGHTS)).alias("source"),
        pl.Series("lifecycle_stage", stage, dtype=pl.String),
        pl.Series("lifecycle_changed_at", changed_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        pl.Series("email_consent", consent.email, dtype=pl.String),
        pl.Series("sms_consent", consent.sms, dtype=pl.String),
        pl.Series("push_consent", consent.push, dtype=pl.String),
        pl.Series("suppressed", consent.suppressed),
        pl.Series("suppression_reason", consent.reason, dtype=pl.String).replace("", None),
        pl.Series("created_at", created_us).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").cast(utc),
    )
    return ContactDraw(
        frame=frame,
        email_ok=(consent.email == "confirmed") & ~consent.suppressed,
        sms_ok=consent.sms == "confirmed",
        push_ok=consent.push == "confirmed",
    )


def _draw_identities(rng: np.random.Generator, n: int, companies: pl.DataFrame) -> pl.DataFrame:
    """Names, employer or free-mail domain, email pattern, city and phone of ``n`` people."""
    first = rng.integers(0, len(vocab.FIRST_NAMES), n)
    last = rng.integers(0, len(vocab.LAST_NAMES), n)
    on_company = rng.random(n) < COMPANY_EMAIL_SHARE
    weights = np.sqrt(companies["employees"].to_numpy().astype(np.float64))
    company = rng.choice(companies.height, size=n, p=weights / weights.sum())
    free = _pick(rng, n, vocab.FREE_MAIL_WEIGHTS)
    pattern = rng.integers(0, 5, n)
    number2 = rng.integers(1, 100, n)
    year = rng.integers(1960, 2006, n)
    city = _pick(rng, n, vocab.CITY_WEIGHTS)
    has_place = rng.random(n) < 0.85
    has_phone = rng.random(n) < 0.6
    phone_digits = rng.integers(2_000_000_000, 9_999_999_999, n)

    first_slugs = [vocab.ascii_slug(x) for x in vocab.FIRST_NAMES]
    last_slugs = [vocab.ascii_slug(x) for x in vocab.LAST_NAMES]
    return pl.DataFrame(
        {
            "first_name": _take(vocab.FIRST_NAMES, first),
            "last_name": _take(vocab.LAST_NAMES, last),
            "f": _take(first_slugs, first),
            "l": _take(last_slugs, last),
            "on_company": on_company,
            "company_domain": companies["domain"].gather(company),
            "company_name": companies["name"].gather(company),
            "free_domain": _take(vocab.FREE_MAIL_DOMAINS, free),
            "pattern": pattern,
            "n2": number2,
            "year": year,
            "city": _take([c[0] for c in vocab.CITIES], city),
            "country": _take([c[1] for c in vocab.CITIES], city),
            "cc": _take([c[2] for c in vocab.CITIES], city),
            "has_place": has_place,
            "has_phone": has_phone,
            "digits": phone_digits,
        }
    )


def _with_emails(people: pl.DataFrame) -> pl.DataFrame:
    """An ``email`` per person from their name pattern and domain, made unique with a ``.N`` suffix."""
    f, l_ = pl.col("f"), pl.col("l")
    company_local = (
        pl.when(pl.col("pattern") <= 1)
        .then(pl.concat_str(f, pl.lit("."), l_))
        .when(pl.col("pattern") == 2)
        .then(pl.concat_str(f.str.slice(0, 1), l_))
        .when(pl.col("pattern") == 3)
        .then(pl.concat_str(f, pl.lit("_"), l_))
        .otherwise(f)
    )
    free_local = (
        pl.when(pl.col("pattern") == 0)
        .then(pl.concat_str(f, pl.lit("."), l_))
        .when(pl.col("pattern") == 1)
        .then(pl.concat_str(f, l_, pl.col("n2").cast(pl.String)))
        .when(pl.col("pattern") == 2)
        .then(pl.concat_str(f, pl.lit("."), l_, pl.col("year").cast(pl.String)))
        .when(pl.col("pattern") == 3)
        .then(pl.concat_str(f.str.slice(0, 1), l_, pl.col("n2").cast(pl.String)))
        .otherwise(pl.concat_str(f, pl.lit("_"), l_))
    )
    people = people.with_columns(
        pl.when("on_company").then(company_local).otherwise(free_local).alias("local"),
        pl.when("on_company").then(pl.col("company_domain")).otherwise(pl.col("free_domain")).alias("domain"),
    )
    dup = pl.int_range(pl.len()).over(["local", "domain"])
    local = pl.when(dup > 0).then(pl.concat_str("local", pl.lit("."), dup.cast(pl.String))).otherwise("local")
    return people.with_columns(pl.concat_str(local, pl.lit("@"), "domain").alias("email"))


def _draw_lifecycle(
    rng: np.random.Generator, n: int, end_us: int, first_order_us: IntArray, order_counts: IntArray
) -> tuple[npt.NDArray[np.str_], IntArray, IntArray]:
    """Stage, creation time and last stage change of each contact; customers follow their first order."""
    customer = first_order_us >= 0
    stage_idx = _pick(rng, n, NON_CUSTOMER_STAGE_WEIGHTS)
    stage = np.where(
        customer,
        np.where(order_counts >= 4, "evangelist", "customer"),
        np.asarray(NON_CUSTOMER_STAGES)[stage_idx],
    )
    created_us = end_us - (rng.random(n) * 730 * US_PER_DAY).astype(np.int64) // 1_000_000 * 1_000_000
    created_us = np.where(customer, np.minimum(created_us, first_order_us - 3_600_000_000), created_us)
    changed_us = np.where(
        customer, first_order_us, created_us + (rng.random(n) * (end_us - created_us)).astype(np.int64)
    )
    return stage, created_us, changed_us


@dataclass(frozen=True)
class _Consent:
    """Per-channel consent summaries and the email suppression of each contact."""

    email: npt.NDArray[np.str_]
    sms: npt.NDArray[np.str_]
    push: npt.NDArray[np.str_]
    reason: npt.NDArray[np.str_]  # "" when not suppressed
    suppressed: BoolArray


def _draw_consent(rng: np.random.Generator, n: int, has_phone: BoolArray) -> _Consent:
    email = np.asarray(("confirmed", "pending", "withdrawn", "none"))[_pick(rng, n, (0.82, 0.06, 0.04, 0.08))]
    sms = np.where(
        has_phone, np.asarray(("confirmed", "withdrawn", "none"))[_pick(rng, n, (0.55, 0.05, 0.40))], "none"
    )
    push = np.asarray(("confirmed", "none"))[_pick(rng, n, (0.45, 0.55))]
    bad = rng.random(n)
    reason = np.where(
        email == "withdrawn",
        "unsubscribe",
        np.where(bad < 0.010, "hard_bounce", np.where(bad < 0.012, "complaint", "")),
    )
    return _Consent(email=email, sms=sms, push=push, reason=reason, suppressed=reason != "")


def _draw_tags(rng: np.random.Generator, n: int) -> pl.Series:
    """Each contact's tags, drawn independently with each tag's probability."""
    tags = pl.DataFrame(
        {t: rng.random(n) < p for t, p in zip(vocab.TAGS, vocab.TAG_PROBABILITIES, strict=True)}
    )
    return tags.select(
        pl.concat_list([pl.when(pl.col(t)).then(pl.lit(t)) for t in vocab.TAGS])
        .list.drop_nulls()
        .alias("tags")
    )["tags"]
