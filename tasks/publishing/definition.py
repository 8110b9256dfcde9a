"""A campaign's definition (YAML or JSON), checked before anything is stored or sent.

Example::

    name: spring-sale
    channels: [email, sms]
    audience: {segment: vip}            # or {contact_ids: [1, 2, 3]}
    send_at: 2026-12-01T09:00:00Z       # omitted: send when scheduled
    utm: {source: aicmo, campaign: spring-sale}   # medium defaults to the channel
    assets: [12]                        # approved media assets only
    rate_limit_per_s: 50                # or rate_limit_per_minute: 600; omitted: AICMO_RATE_LIMIT_PER_S
    messages:
      email: {subject: "Hi {{ contact.first_name }}", text: "...", html: "<p>...</p>"}
      sms: {text: "Sale! {{ campaign.name }} https://shop.example.com/sale"}

Each channel's message has its own fields (an email needs a subject and a body, a webhook a
URL...); an unknown field, channel or placeholder is an ``InputError`` naming it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aicmo.errors import InputError
from aicmo.models.publishing import PUBLISH_CHANNELS, Campaign
from aicmo.tasks.experiments.spec import ExperimentSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class EmailMessage(_Strict):
    """An email: subject, and a text and/or HTML body (the missing one is derived)."""

    subject: str = Field(min_length=1)
    text: str | None = None
    html: str | None = None
    from_: str | None = Field(None, alias="from")
    reply_to: str | None = None

    @model_validator(mode="after")
    def _body(self) -> EmailMessage:
        if not (self.text or self.html):
            raise ValueError("an email needs a text or an html body")
        return self


class SmsMessage(_Strict):
    """An SMS: its text (segments are counted at send time)."""

    text: str = Field(min_length=1)


class PushMessage(_Strict):
    """A mobile or web push notification."""

    title: str = Field(min_length=1)
    body: str = Field(min_length=1)
    url: str | None = None


class SocialMessage(_Strict):
    """One post on the campaign's social account (not per contact)."""

    text: str = Field(min_length=1, max_length=5000)
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"


class WebhookMessage(_Strict):
    """A signed JSON POST per contact to ``url``; ``data`` values are templates."""

    url: str
    event: str = "campaign.message"
    data: dict[str, str] = Field(default_factory=dict)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("a webhook url must start with http:// or https://")
        return value


MESSAGE_MODELS: dict[str, type[_Strict]] = {
    "email": EmailMessage,
    "sms": SmsMessage,
    "push": PushMessage,
    "webpush": PushMessage,
    "social": SocialMessage,
    "webhook": WebhookMessage,
}
PER_CAMPAIGN_CHANNELS = ("social",)


class Audience(_Strict):
    """Who gets the campaign: a saved segment, or contact ids."""

    segment: str | None = None
    contact_ids: list[int] | None = None

    @model_validator(mode="after")
    def _one(self) -> Audience:
        if (self.segment is None) == (self.contact_ids is None):
            raise ValueError("give exactly one of segment or contact_ids")
        return self


class Utm(_Strict):
    """UTM parameters added to every link (``medium`` defaults to the channel)."""

    source: str = "aicmo"
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None


class CampaignDefinition(_Strict):
    """What ``aicmo campaigns create FILE`` reads."""

    name: str = Field(min_length=1, max_length=255)
    channels: list[str] = Field(min_length=1)
    audience: Audience
    messages: dict[str, dict[str, Any]]
    assets: list[int] = Field(default_factory=list)
    utm: Utm = Field(default_factory=Utm)
    send_at: datetime | None = None
    rate_limit_per_minute: float | None = Field(None, gt=0, exclude=True)
    rate_limit_per_s: float | None = Field(None, gt=0)
    experiment: ExperimentSpec | None = None

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        for channel in value:
            if channel not in PUBLISH_CHANNELS:
                raise ValueError(f"unknown channel {channel!r}; known: {', '.join(PUBLISH_CHANNELS)}")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @field_validator("send_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("send_at needs a timezone (e.g. 2026-12-01T09:00:00Z)")
        return value.astimezone(UTC) if value is not None else None

    @model_validator(mode="after")
    def _one_rate(self) -> CampaignDefinition:
        """A per-minute rate is kept as the per-second one (what the sender paces by)."""
        if self.rate_limit_per_minute is not None:
            if self.rate_limit_per_s is not None:
                raise ValueError("give rate_limit_per_s or rate_limit_per_minute, not both")
            self.rate_limit_per_s = self.rate_limit_per_minute / 60.0
            self.rate_limit_per_minute = None
        return self

    @model_validator(mode="after")
    def _messages(self) -> CampaignDefinition:
        for channel in self.messages:
            if channel not in self.channels:
                raise ValueError(f"messages.{channel}: channel {channel!r} is not in channels")
        for channel in self.channels:
            if channel not in self.messages:
                raise ValueError(f"messages.{channel}: missing (every channel needs its message)")
            try:
                MESSAGE_MODELS[channel].model_validate(self.messages[channel])
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(
                    f"messages.{channel}{'.' + where if where else ''}: {first['msg']}"
                ) from None
        if self.experiment is not None:
            self._check_experiment(self.experiment)
        return self

    def _check_experiment(self, experiment: ExperimentSpec) -> None:
        channel = self.experiment_channel
        if channel not in self.channels:
            raise ValueError(f"experiment.channel: {channel!r} is not in channels")
        if channel in PER_CAMPAIGN_CHANNELS:
            raise ValueError(
                f"experiment.channel: {channel!r} posts once per campaign; variants need contacts"
            )
        for variant in experiment.variants:
            try:
                MESSAGE_MODELS[channel].model_validate({**self.messages[channel], **variant.message})
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(p) for p in first["loc"])
                raise ValueError(
                    f"experiment.variants.{variant.name}.message{'.' + where if where else ''}: {first['msg']}"
                ) from None

    @property
    def experiment_channel(self) -> str:
        """The channel whose message the experiment varies (its own, else the first channel)."""
        if self.experiment is not None and self.experiment.channel is not None:
            return self.experiment.channel
        return self.channels[0]

    def message(self, channel: str, variant: int | None = None) -> Any:
        """The typed message of ``channel``, with variant ``variant``'s overrides when it has some."""
        fields = self.messages[channel]
        if (
            variant is not None
            and self.experiment is not None
            and channel == self.experiment_channel
            and 0 <= variant < len(self.experiment.variants)
        ):
            fields = {**fields, **self.experiment.variants[variant].message}
        return MESSAGE_MODELS[channel].model_validate(fields)


def parse_definition(data: Any, *, source: str = "campaign") -> CampaignDefinition:
    """A checked definition from parsed YAML/JSON; InputError naming the field otherwise."""
    if not isinstance(data, dict):
        raise InputError(f"{source}: a campaign definition is a mapping (name, channels, audience, messages)")
    try:
        return CampaignDefinition.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        message = str(first["msg"]).removeprefix("Value error, ")
        raise InputError(f"{source}: {where + ': ' if where else ''}{message}") from None


def load_definition(path: Path) -> CampaignDefinition:
    """Read a campaign definition from a ``.yaml``/``.yml``/``.json`` file."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise InputError(
            f"{path}: not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {exc}"
        ) from None
    return parse_definition(data, source=str(path))


def to_columns(definition: CampaignDefinition) -> dict[str, Any]:
    """The ``campaigns`` row of a definition (the definition is kept whole, so it reads back the same)."""
    first = definition.channels[0]
    email = definition.messages.get("email", {})
    return {
        "name": definition.name,
        "channel": first,
        "channels": list(definition.channels),
        "audience": definition.audience.model_dump(exclude_none=True),
        "messages": definition.messages,
        "asset_ids": list(definition.assets),
        "utm": definition.utm.model_dump(exclude_none=True),
        "utm_campaign": definition.utm.campaign or definition.name,
        "send_at": definition.send_at,
        "rate_limit_per_s": definition.rate_limit_per_s,
        "experiment": definition.experiment.model_dump(mode="json") if definition.experiment else None,
        "subject": email.get("subject"),
        "body": email.get("text") or definition.messages[first].get("text"),
    }


def from_row(
    name: str,
    channels: list[str],
    audience: dict[str, Any],
    messages: dict[str, Any],
    asset_ids: list[int],
    utm: dict[str, Any],
    send_at: datetime | None,
    rate_limit_per_s: float | None,
    experiment: dict[str, Any] | None = None,
) -> CampaignDefinition:
    """The definition stored in a ``campaigns`` row (InputError if the row is not a publishable campaign)."""
    return parse_definition(
        {
            "name": name,
            "channels": channels,
            "audience": audience,
            "messages": messages,
            "assets": asset_ids,
            "utm": utm,
            "send_at": send_at,
            "rate_limit_per_s": rate_limit_per_s,
            **({"experiment": experiment} if experiment else {}),
        },
        source=f"campaign {name!r}",
    )


def definition_of(campaign: Campaign) -> CampaignDefinition:
    """The definition a stored campaign row holds."""
    return from_row(
        campaign.name,
        campaign.channels,
        campaign.audience,
        campaign.messages,
        campaign.asset_ids,
        campaign.utm,
        campaign.send_at,
        campaign.rate_limit_per_s,
        campaign.experiment,
    )
