"""The fake provider server and fast gateway settings (shared with the other provider tests)."""

from tests.provider_fixtures import server, settings

__all__ = ["server", "settings"]
