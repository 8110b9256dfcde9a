"""Keep secrets out of logs and error texts.

Every credential a provider is built with is registered here; ``redact`` replaces any registered
secret in a string with ``***``, and ``SecretFilter`` does the same to log records of the HTTP
libraries (httpx logs each request's URL, and OpenWeather's key travels in the query string).
"""

from __future__ import annotations

import logging
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
MASK = "***"
# Loggers whose records may carry a URL or header with a credential in it.
FILTERED_LOGGERS = ("httpx", "httpcore", "aiohttp", "aiohttp.client", "aicmo.gateway", "aicmo.providers")


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that it is masked wherever it could be printed."""
    if value and len(value) >= 4:
        with _LOCK:
            _SECRETS.add(value)
    _install_filters()


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    if not _SECRETS:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SecretFilter(logging.Filter):
    """Rewrites a record's message with the registered secrets masked (never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _SECRETS:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is logging's problem, not ours
            return True
        clean = redact(message)
        if clean != message:
            record.msg = clean
            record.args = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = SecretFilter()
_INSTALLED = False


def _install_filters() -> None:
    global _INSTALLED
    if _INSTALLED:
        return
    for name in FILTERED_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    _INSTALLED = True
