"""What every source is: one small Protocol, the records it yields, and shared etiquette helpers.

A source turns the registry's queries for some cameras into ``Candidate`` records (or
``Skipped`` ones it can rule out before any download: a non-native size, an editor in the
metadata..., judged by ``pipeline.prefilter`` with the verdict's own rules). It never touches
the catalog: ``flows.stages.acquire`` stores what it yields, so a source can be tested against a
loopback server with no database at all. Parsing (pure functions over saved responses) is kept
apart from fetching in every source module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from pipeline import __version__
from pipeline.errors import CamidError
from pipeline.records import Candidate, Reason
from pipeline.registry import Camera
from pipeline.scan_checks import Finding

AGENT = "camid"


class SourceError(CamidError):
    """A source failed in a way the user must see (an API error, a server that stays down): one
    line, no secrets.

    ``retryable`` says whether the same request may succeed later (timeouts, connection errors,
    5xx, rate limits, a lagged API): Prefect's tasks retry those and nothing else. It is False
    when the source refused the request as asked (an invalid key, a 404, an answer it cannot
    read), which only a change by the user fixes. Mistakes in the user's own setup (a missing
    key, a missing ``--path``) are not ``SourceError``s at all but ``ConfigError``s.
    """

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable  # kept through pickling: BaseException pickles __dict__


@dataclass(frozen=True, slots=True)
class Skipped:
    """A candidate the source rules out before download: the catalog stores it as SKIPPED, with why."""

    candidate: Candidate
    reason: Reason
    detail: str


Found = Candidate | Skipped


def screened(candidate: Candidate, findings: Sequence[Finding]) -> Found:
    """The candidate, or its skip under the pre-filter's first reason (a skip records one code)."""
    if not findings:
        return candidate
    reason, detail = findings[0]
    return Skipped(candidate, reason, one_line(detail))


class Source(Protocol):
    """A place originals come from. ``api_calls`` counts the requests that cost quota."""

    name: str

    @property
    def api_calls(self) -> int: ...

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]: ...


def user_agent(contact: str | None) -> str:
    """``camid/<version> (<contact>)``: what Wikimedia's policy and polite crawling ask for."""
    contact = " ".join((contact or "").split())
    return f"{AGENT}/{__version__} ({contact})" if contact else f"{AGENT}/{__version__}"


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret replaced, for messages that may echo a request or a reply."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


def one_line(text: str, limit: int = 300) -> str:
    """Collapse whitespace and cut: errors end up in a catalog column and on one terminal line."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"
