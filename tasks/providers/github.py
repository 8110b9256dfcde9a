"""GitHub: a user's public profile by email (user search, then the user), honouring rate-limit headers.

API: ``GET /search/users?q=<email> in:email`` then ``GET /users/{login}``, with
``Authorization: Bearer <token>``. Every response carries ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (epoch seconds); when the remaining count hits 0 the gateway holds further
calls until the reset (up to the Retry-After cap, else fails over). A 403/429 with remaining 0,
or with Retry-After (secondary limit), is a rate limit, not an auth failure.
"""

from __future__ import annotations

import contextlib
import time
from urllib.parse import quote

import httpx

from aicmo.tasks.gateway import Answer, HttpReply, Provider, ProviderError, parse_retry_after

PROFILE_FIELDS = (
    "login",
    "name",
    "company",
    "location",
    "followers",
    "blog",
    "html_url",
    "public_repos",
    "bio",
)


class GitHubProvider(Provider):
    """Social profile by email from the GitHub REST API."""

    name = "github"
    capability = "social_by_email"

    def auth_headers(self) -> dict[str, str]:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        return headers | super().auth_headers()

    def _reset_in(self, response: HttpReply) -> float | None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is None or reset is None or remaining.strip() != "0":
            return None
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None

    def observe(self, response: HttpReply) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and remaining.strip() == "0" and reset is not None:
            with contextlib.suppress(ValueError):
                self.guard.pause_until(float(reset))

    def classify(self, response: HttpReply, detail: str) -> ProviderError:
        status = response.status_code
        if status in (403, 429):
            wait = parse_retry_after(response.headers.get("Retry-After"))
            if wait is None:
                wait = self._reset_in(response)
            if wait is not None or "rate limit" in detail.lower():
                return ProviderError(
                    self.name, "rate_limited", f"HTTP {status}: {detail}", status=status, retry_after=wait
                )
        return super().classify(response, detail)

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        found = await self.get_json(client, "/search/users", {"q": f"{key} in:email", "per_page": 1})
        if not found or not found.get("items"):
            return Answer(found=False)
        login = found["items"][0]["login"]
        user = await self.get_json(client, f"/users/{quote(str(login), safe='')}")
        if user is None:  # deleted between the two calls
            return Answer(found=False)
        return Answer(found=True, value={f: user.get(f) for f in PROFILE_FIELDS} | {"source": self.name})
