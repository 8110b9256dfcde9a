"""Campaign templates: Jinja2 in a sandbox, strict about unknown placeholders, autoescaped for HTML.

A template sees ``contact`` (first_name, last_name, email, phone, company_name, city, country,
tier; empty strings where unknown) and ``campaign`` (name). Templates are compiled and rendered
against a sample contact when a campaign is created, so a syntax error or an unknown placeholder
is reported then, naming the channel and field, before anything is sent. Every http(s) link in
a rendered message gets the campaign's UTM parameters; email and push links then go through the
click redirect of the ``LinkSigner``.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

from aicmo.errors import InputError
from aicmo.storage.publishing import Recipient
from aicmo.tasks.publishing.definition import CampaignDefinition, EmailMessage, Utm

TEMPLATE_FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "text", "html"),
    "sms": ("text",),
    "push": ("title", "body", "url"),
    "webpush": ("title", "body", "url"),
    "social": ("text",),
    "webhook": (),  # data values, checked one by one
}
SAMPLE = Recipient(
    0, "sample@example.com", "Sam", "Sample", "+14155550100", "Example Inc", "Paris", "FR", "gold"
)

_TEXT_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_HTML_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)
_URL_RE = re.compile(r"https?://[^\s<>\"')\]]+")
_HREF_RE = re.compile(r"""(href\s*=\s*)(["'])(https?://[^"']+)\2""", re.IGNORECASE)


class TemplateProblem(InputError):
    """A template that does not compile or render; the message names channel and field."""


@lru_cache(maxsize=1024)
def _compile(source: str, is_html: bool) -> Any:
    return (_HTML_ENV if is_html else _TEXT_ENV).from_string(source)


def compile_template(source: str, *, html: bool, where: str) -> Any:
    """The compiled template, or TemplateProblem naming ``where`` and the line."""
    try:
        return _compile(source, html)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{where}: template error on line {exc.lineno}: {exc.message}") from None


def context(contact: Recipient, campaign_name: str) -> dict[str, Any]:
    """What a template sees: the contact's fields (empty where unknown) and the campaign."""
    fields = {k: ("" if v is None else v) for k, v in contact.__dict__.items()}
    return {"contact": fields, "campaign": {"name": campaign_name}}


def render(source: str, ctx: dict[str, Any], *, html: bool, where: str) -> str:
    """Render one template; TemplateProblem naming ``where`` if it fails for this contact."""
    template = compile_template(source, html=html, where=where)
    try:
        return str(template.render(ctx))
    except TemplateError as exc:
        raise TemplateProblem(f"{where}: {exc.message or type(exc).__name__}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateProblem(f"{where}: {type(exc).__name__}: {exc}") from None


# ---- links ------------------------------------------------------------------------------------
def utm_params(utm: Utm, channel: str, campaign_name: str) -> dict[str, str]:
    """The UTM query parameters of a channel's links."""
    params = {
        "utm_source": utm.source,
        "utm_medium": utm.medium or channel,
        "utm_campaign": utm.campaign or campaign_name,
    }
    if utm.content:
        params["utm_content"] = utm.content
    if utm.term:
        params["utm_term"] = utm.term
    return params


def with_utm(url: str, params: dict[str, str]) -> str:
    """``url`` with the UTM parameters it does not carry already (its own values win)."""
    return _with_utm(url, tuple(params.items()))


@lru_cache(maxsize=4096)
def _with_utm(url: str, items: tuple[tuple[str, str], ...]) -> str:
    params = dict(items)
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {k for k, _ in query}
    query.extend((k, v) for k, v in params.items() if k not in present)
    return urlunsplit(parts._replace(query=urlencode(query)))


def rewrite_text_links(text: str, rewrite: Callable[[str], str]) -> str:
    """Every http(s) URL of a plain text passed through ``rewrite`` (trailing punctuation kept out)."""

    def one(match: re.Match[str]) -> str:
        url = match.group(0)
        tail = ""
        while url and url[-1] in ".,;:!?":
            url, tail = url[:-1], url[-1] + tail
        return rewrite(url) + tail

    return _URL_RE.sub(one, text)


def rewrite_html_links(markup: str, rewrite: Callable[[str], str]) -> str:
    """Every ``href`` to an http(s) URL of HTML passed through ``rewrite`` (escaping kept right)."""

    def one(match: re.Match[str]) -> str:
        url = html_lib.unescape(match.group(3))
        return f"{match.group(1)}{match.group(2)}{html_lib.escape(rewrite(url), quote=True)}{match.group(2)}"

    return _HREF_RE.sub(one, markup)


# ---- rendered messages ------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    """A message ready for a channel: the parts that channel uses."""

    channel: str
    subject: str = ""
    text: str = ""
    html: str = ""
    title: str = ""
    url: str = ""
    data: dict[str, str] = field(default_factory=dict)


def html_from_text(text: str) -> str:
    """A minimal HTML body for a text-only email (escaped, paragraphs kept)."""
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return "".join(f"<p>{html_lib.escape(p).replace(chr(10), '<br>')}</p>" for p in paragraphs)


def render_message(
    definition: CampaignDefinition,
    channel: str,
    contact: Recipient,
    *,
    link: Callable[[str], str] | None = None,
    variant: int | None = None,
    message: Any = None,
) -> Rendered:
    """Render ``channel``'s message (variant ``variant``'s, in an experiment) for one contact.

    Links are tagged with UTM parameters and tracked by ``link``. ``message`` is
    ``definition.message(channel, variant)`` when the caller holds it already (a sender
    rendering thousands of contacts validates it once).
    """
    ctx = context(contact, definition.name)
    utm = utm_params(definition.utm, channel, definition.name)
    if message is None:
        message = definition.message(channel, variant)

    def tag(url: str) -> str:
        tagged = with_utm(url, utm)
        return link(tagged) if link is not None else tagged

    def part(name: str, *, is_html: bool = False) -> str:
        source = getattr(message, name) or ""
        return render(source, ctx, html=is_html, where=f"messages.{channel}.{name}") if source else ""

    if channel == "email":
        assert isinstance(message, EmailMessage)
        text = part("text")
        markup = part("html", is_html=True)
        return Rendered(
            channel,
            subject=part("subject").strip(),
            text=rewrite_text_links(text, tag) if text else "",
            html=rewrite_html_links(markup, tag) if markup else "",
        )
    if channel in ("sms", "social"):
        return Rendered(channel, text=rewrite_text_links(part("text"), lambda u: with_utm(u, utm)))
    if channel in ("push", "webpush"):
        url = part("url").strip()
        return Rendered(channel, title=part("title"), text=part("body"), url=tag(url) if url else "")
    if channel == "webhook":
        data = {
            key: render(value, ctx, html=False, where=f"messages.webhook.data.{key}")
            for key, value in message.data.items()
        }
        return Rendered(channel, data=data)
    raise InputError(f"unknown channel {channel!r}")


def check_templates(definition: CampaignDefinition) -> None:
    """Compile and render every template (each variant's too) against a sample contact, before sending."""
    variants: list[int | None] = [None]
    if definition.experiment is not None:
        variants += list(range(len(definition.experiment.variants)))
    for channel in definition.channels:
        for variant in variants if channel == definition.experiment_channel else [None]:
            message = definition.message(channel, variant)
            where = "messages"
            if variant is not None and definition.experiment is not None:
                where = f"experiment.variants.{definition.experiment.variants[variant].name}.message"
            for name in TEMPLATE_FIELDS[channel]:
                source = getattr(message, name, None)
                if source:
                    compile_template(source, html=name == "html", where=f"{where}.{channel}.{name}")
            render_message(definition, channel, SAMPLE, variant=variant)
