"""Phase 2 tracking: signed open/click/unsubscribe links, provider webhooks, a durable spool into the lake."""
