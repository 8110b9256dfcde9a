"""The offline company provider: the last fallback of the company chain, so it always answers honestly.

No network: a free-mail domain (gmail.com, ...) is reported as such, with no company; any other
well-formed domain gets a company name guessed from its registrable label (``acme-widgets.co.uk``
-> "Acme Widgets"), marked ``confidence: "guess"``. A malformed domain is 'not found'.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources

import httpx

from aicmo.settings import GatewaySettings, ProviderLimit
from aicmo.tasks.gateway import Answer, Provider

DOMAIN_RE = re.compile(r"^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
# Second-level labels under which the registrable name sits one label deeper (acme.co.uk).
SECOND_LEVEL = frozenset({"co", "com", "net", "org", "gov", "ac", "edu", "ltd", "plc", "gob", "or", "ne"})
ACRONYM_MAX = 3


@lru_cache(maxsize=1)
def free_mail_domains() -> frozenset[str]:
    """The shipped list of free/consumer mail domains."""
    text = resources.files("aicmo.tasks.providers").joinpath("data/free_mail_domains.txt").read_text("utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def is_free_mail(domain: str) -> bool:
    """Whether ``domain`` is a consumer mail domain."""
    return domain.strip().lower() in free_mail_domains()


def name_from_domain(domain: str) -> str:
    """A readable company name from a domain's registrable label."""
    labels = domain.lower().removeprefix("www.").split(".")
    if len(labels) >= 3 and labels[-2] in SECOND_LEVEL and len(labels[-1]) == 2:
        label = labels[-3]
    else:
        label = labels[-2] if len(labels) >= 2 else labels[0]
    words = [w for w in re.split(r"[-_]+", label) if w]
    if len(words) == 1 and len(words[0]) <= ACRONYM_MAX and words[0].isalpha():
        return words[0].upper()  # ibm.com -> IBM
    return " ".join(w.capitalize() for w in words)


def describe_domain(domain: str) -> dict[str, object] | None:
    """What can be said about ``domain`` without asking anyone; None when it is not a domain."""
    domain = domain.strip().lower().removeprefix("www.")
    if not DOMAIN_RE.match(domain):
        return None
    if is_free_mail(domain):
        return {"domain": domain, "name": None, "is_free_mail": True, "source": "company_offline"}
    return {
        "domain": domain,
        "name": name_from_domain(domain),
        "is_free_mail": False,
        "confidence": "guess",
        "source": "company_offline",
    }


class OfflineCompanyProvider(Provider):
    """Company by domain without network access (free-mail list, name from the domain)."""

    name = "company_offline"
    capability = "company_by_domain"

    def __init__(
        self, *, settings: GatewaySettings | None = None, limit: ProviderLimit | None = None
    ) -> None:
        super().__init__("offline://company", None, settings=settings, limit=limit)

    async def fetch(self, key: str, client: httpx.AsyncClient) -> Answer:
        value = describe_domain(key)
        return Answer(found=value is not None, value=value)
