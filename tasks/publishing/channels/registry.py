"""Builds each channel's adapter from settings: the one place that knows every adapter."""

from __future__ import annotations

from aicmo.errors import ConfigError
from aicmo.settings import PublishingSettings
from aicmo.tasks.publishing.channels.base import Channel
from aicmo.tasks.publishing.definition import CampaignDefinition
from aicmo.tasks.publishing.sender import ChannelFactory


def channel_factory(
    settings: PublishingSettings, *, hmac_key: str = "", tracking_base_url: str | None = None
) -> ChannelFactory:
    """A factory giving each campaign its channel adapters, paced by the campaign's rate limit.

    ``tracking_base_url`` is where providers send delivery callbacks (the tracking service).
    """

    def build(name: str, definition: CampaignDefinition) -> Channel:
        rate = definition.rate_limit_per_s
        if name == "email":
            from aicmo.tasks.publishing.channels.email import EmailChannel

            return EmailChannel(settings, rate_per_s=rate)
        if name == "sms":
            from aicmo.tasks.publishing.channels.sms import SmsChannel

            return SmsChannel(settings, rate_per_s=rate, status_callback_base=tracking_base_url)
        if name == "push":
            from aicmo.tasks.publishing.channels.push import FcmChannel

            return FcmChannel(settings, rate_per_s=rate)
        if name == "webpush":
            from aicmo.tasks.publishing.channels.webpush import WebPushChannel

            return WebPushChannel(settings, rate_per_s=rate)
        if name == "social":
            from aicmo.tasks.publishing.channels.social import SocialChannel

            return SocialChannel(settings)
        if name == "webhook":
            from aicmo.tasks.publishing.channels.webhook import WebhookChannel

            return WebhookChannel(settings, event=definition.message("webhook").event, rate_per_s=rate)
        raise ConfigError(f"no adapter for channel {name!r}")

    return build
