"""Campaign definitions and templates: every mistake is one clear error before anything is sent;
per-contact problems are counted outcomes while the rest of the campaign goes out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, update

from aicmo.errors import InputError
from aicmo.fakes.channels import LocalChannels
from aicmo.models.crm import Contact
from aicmo.storage.db import transaction
from aicmo.storage.publishing import Recipient
from aicmo.tasks.publishing.campaigns import create_campaign, status
from aicmo.tasks.publishing.definition import load_definition, parse_definition
from aicmo.tasks.publishing.templates import check_templates, render_message, with_utm
from tests.publishing.helpers import LINKS, add_contacts, link_fields, run, started

BASE: dict[str, Any] = {
    "name": "c",
    "channels": ["email"],
    "audience": {"contact_ids": [1]},
    "messages": {"email": {"subject": "Hi", "text": "Hello {{ contact.first_name }}"}},
}


def _with(**changes: Any) -> dict[str, Any]:
    data = {**BASE, **changes}
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_with(channels=["email", "fax"]), "unknown channel 'fax'"),
        (_with(messages={"email": {"text": "no subject"}}), "messages.email.subject"),
        (_with(messages={"email": {"subject": "x"}}), "needs a text or an html body"),
        (_with(messages={"email": {"subject": "x", "text": "y", "colour": "red"}}), "messages.email.colour"),
        (_with(channels=["email", "sms"]), "messages.sms: missing"),
        (_with(audience={}), "exactly one of segment or contact_ids"),
        (_with(send_at="2026-12-01T09:00:00"), "send_at needs a timezone"),
    ],
)
def test_bad_definitions_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_definition(data)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {{ contact.first_name ", "messages.email.text: template error on line 1"),
        ("Hello {{ contact.nickname }}", "messages.email.text: 'dict object' has no attribute 'nickname'"),
        ("{{ coupon }}", "'coupon' is undefined"),
        ("{{ ''.__class__.__mro__ }}", "messages.email.text"),  # the sandbox refuses internals
    ],
)
def test_template_errors_before_anything_is_sent(text: str, message: str) -> None:
    definition = parse_definition(_with(messages={"email": {"subject": "Hi", "text": text}}))
    with pytest.raises(InputError, match=message):
        check_templates(definition)


def test_html_is_autoescaped_text_is_not_and_links_get_utm() -> None:
    definition = parse_definition(
        _with(
            messages={
                "email": {
                    "subject": "Hi {{ contact.first_name }}",
                    "text": "Hi {{ contact.first_name }} https://x.example.com/a?utm_source=own",
                    "html": '<b>{{ contact.first_name }}</b> <a href="https://x.example.com/b?q=1&amp;r=2">b</a>',
                }
            },
            utm={"source": "nl", "content": "hero"},
        )
    )
    contact = Recipient(1, "a@example.com", "<script>x</script>", None, None, None, None, None, None)
    links = LINKS
    rendered = render_message(definition, "email", contact, link=lambda u: links.click_url(1, 1, "email", u))
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert rendered.subject == "Hi <script>x</script>"  # a header, not markup
    click = rendered.html.split('href="')[1].split('"')[0]
    import html as html_lib

    fields = link_fields(html_lib.unescape(click))
    assert fields is not None
    assert "q=1&r=2" in fields["u"] and "utm_source=nl" in fields["u"] and "utm_content=hero" in fields["u"]
    assert "utm_medium=email" in fields["u"] and "utm_campaign=c" in fields["u"]
    text_click = rendered.text.split()[-1]
    assert link_fields(text_click)["u"].count("utm_source=own") == 1  # type: ignore[index]
    token = text_click.rsplit("/", 1)[-1]
    forged = text_click[: -len(token)] + token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    assert link_fields(forged) is None  # an altered token fails


def test_with_utm_keeps_existing_parameters() -> None:
    url = with_utm("https://a.example.com/p?utm_medium=x&z=1#top", {"utm_source": "s", "utm_medium": "m"})
    assert url == "https://a.example.com/p?utm_medium=x&z=1&utm_source=s#top"


def test_yaml_file_and_unapproved_assets(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: spring\nchannels: [email]\naudience: {contact_ids: [1]}\nassets: [42]\n"
        "messages:\n  email: {subject: Hi, text: Hello}\n"
    )
    definition = load_definition(path)
    with pytest.raises(InputError, match="assets: 42 missing or not approved"):
        create_campaign(engine, definition)
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(InputError, match=r"bad\.yaml: not valid YAML"):
        load_definition(tmp_path / "bad.yaml")


async def test_per_contact_problems_are_counted_while_the_rest_go_out(
    engine: Engine, local: LocalChannels
) -> None:
    ids = add_contacts(engine, 8, consent=("email", "sms"))
    with transaction(engine) as session:
        session.execute(update(Contact).where(Contact.id == ids[0]).values(first_name=None))  # template fails
        session.execute(update(Contact).where(Contact.id == ids[1]).values(phone=None))  # no SMS address
    local.smtp.reject("p2@example.com")  # permanently failing address
    definition = parse_definition(
        {
            "name": "mixed",
            "channels": ["email", "sms"],
            "audience": {"contact_ids": ids},
            "messages": {
                "email": {
                    "subject": "Dear {{ contact.first_name[0] }}.",
                    "text": "Hello {{ contact.first_name }}",
                },
                "sms": {"text": "Hi {{ contact.first_name[0] }}."},
            },
        }
    )
    campaign_id = started(engine, definition)
    report = await run(engine, campaign_id, local.settings())

    assert report.finished
    st = status(engine, "mixed")
    assert st.ledger[("sent", "email")] == 6 and st.ledger[("sent", "sms")] == 6
    assert st.skip_reasons == {"template_error": 2, "no_address": 1, "hard_bounce": 1}
    assert local.smtp.count == 6 and len(local.twilio.messages) == 6
