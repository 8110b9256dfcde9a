"""One interface over the ad platforms' APIs: read ad sets, set an ad set's daily budget and bid,
pause and resume it.

``MetaAdsPlatform`` and ``GoogleAdsPlatform`` (in their own modules) implement it over the real
HTTP contracts; this module holds the shared shapes, the error carrying the platform's own
message, and the retry loop that waits out rate limits the way each platform asks (Meta's
throttling codes with ``X-Business-Use-Case-Usage``'s ``estimated_time_to_regain_access``,
Google's ``RESOURCE_EXHAUSTED`` with ``retryDelay``) and retries 5xx and dropped connections.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from aicmo.errors import AicmoError

MAX_ERROR_TEXT = 300


@dataclass(frozen=True)
class AdSetInfo:
    """An ad set (Meta) or ad group (Google) as the platform reports it, money in major units."""

    id: str
    name: str
    campaign_id: str
    campaign: str
    status: str  # ACTIVE | PAUSED (Google's ENABLED is reported as ACTIVE)
    daily_budget: float | None
    bid: float | None
    budget_id: str | None = None  # Google: the campaign budget's resource name


@dataclass(frozen=True)
class PlatformAnswer:
    """What the platform said to one change: HTTP status and body."""

    http_status: int
    body: dict[str, Any]
    attempts: int = 1


class PlatformError(AicmoError):
    """A call the platform refused (or kept failing); ``message`` is the platform's own."""

    def __init__(
        self,
        platform: str,
        http_status: int | None,
        message: str,
        *,
        body: dict[str, Any] | None = None,
        retryable: bool = False,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.platform = platform
        self.http_status = http_status
        self.message = message
        self.body = body
        self.retryable = retryable
        self.retry_after_s = retry_after_s
        self.attempts = 1

    def __str__(self) -> str:
        """One line: the platform, its own message (whitespace and line breaks folded), the status."""
        status = f" (HTTP {self.http_status})" if self.http_status else ""
        return f"{self.platform}: {' '.join(self.message.split())}{status}"


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts, and the longest wait honoured (a longer one fails the change instead)."""

    max_attempts: int = 4
    max_wait_s: float = 60.0
    backoff_s: float = 0.5


class AdPlatform(ABC):
    """An ad account on one platform."""

    platform: str

    def __init__(
        self,
        account: str,
        client: httpx.Client,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.account = account
        self.client = client
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    @abstractmethod
    def list_ad_sets(self) -> list[AdSetInfo]:
        """Every ad set of the account with its campaign, status, daily budget and bid."""

    @abstractmethod
    def set_daily_budget(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        """Set the daily budget (account currency, major units) that governs ``ad_set``."""

    @abstractmethod
    def set_bid(self, ad_set: AdSetInfo, amount: float) -> PlatformAnswer:
        """Set the ad set's bid (account currency, major units)."""

    @abstractmethod
    def set_status(self, ad_set: AdSetInfo, active: bool) -> PlatformAnswer:
        """Resume (``active``) or pause the ad set."""

    # ---- one call with the platform's retry rules -------------------------------------------------
    @abstractmethod
    def classify(self, response: httpx.Response, body: dict[str, Any]) -> PlatformError:
        """The error for a non-2xx answer: the platform's message, whether and when to retry."""

    def request(self, method: str, url: str, **kwargs: Any) -> tuple[httpx.Response, Any]:
        """Send one request, retrying rate limits (after the wait they ask for), 5xx and dropped connections."""
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                error = PlatformError(
                    self.platform, None, f"connection failed: {type(exc).__name__}", retryable=True
                )
                wait = self.retry.backoff_s * 2 ** (attempt - 1)
            else:
                body = _json(response)
                if response.is_success and not (isinstance(body, dict) and "error" in body):
                    return response, body
                error = self.classify(response, body if isinstance(body, dict) else {"raw": body})
                backoff = self.retry.backoff_s * 2 ** (attempt - 1)
                wait = backoff if error.retry_after_s is None else error.retry_after_s
            error.attempts = attempt
            if not error.retryable or attempt >= self.retry.max_attempts:
                raise error
            if wait > self.retry.max_wait_s:
                error.message += (
                    f"; asked to wait {wait:.0f} s, more than the {self.retry.max_wait_s:.0f} s allowed"
                )
                raise error
            self._sleep(wait)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"raw": response.text[:MAX_ERROR_TEXT]}
