"""Provider webhooks: each module checks its provider's real signature and maps its real payloads to events.

A module offers ``verify(request, settings, ...)`` (raises :class:`Rejected`) and
``parse(...)`` -> events. The batch importer (``aicmo events import``) runs the same parsers over
exported files. Messages carry the campaign and contact they were sent for in the provider's own
metadata field, under the keys ``aicmo_campaign_id`` and ``aicmo_contact_id`` (SendGrid
``custom_args``, Mailgun ``user-variables``, Postmark ``Metadata``, SES message tags, Standard
Webhooks ``data.tags``, Twilio: query parameters of the status callback URL); without them an
event is kept with its address, and suppression still works by address.
"""
