"""What one provider answered (``Answer``) and what the gateway made of one item (``Outcome``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Answer:
    """A provider's answer to one key: found (with a value) or an honest 'not found'."""

    found: bool
    value: dict[str, Any] | None = None


@dataclass
class Outcome:
    """The result of one item: an answer (found or not found) or an error with its kind.

    ``ok`` means an answer was obtained; ``provider`` names who answered (or, on failure, the
    last provider tried); ``attempts`` counts HTTP attempts over every provider tried.
    """

    key: str
    ok: bool
    found: bool = False
    value: dict[str, Any] | None = None
    provider: str | None = None
    attempts: int = 0
    elapsed_s: float = 0.0
    from_cache: bool = False
    error: str | None = None
    error_kind: str | None = None
    tried: list[str] = field(default_factory=list)
