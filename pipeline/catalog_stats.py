"""The records of ``camid stats``: what the catalog counts, as the database computed it.

Apart from ``pipeline.records`` (the records stages hand each other) because only the stats
report reads them: ``db.stats`` (and its sqlite3 fast path) builds them, ``pipeline.summary``
and the CLI's tables show them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pipeline.records import CandidateStatus


@dataclass(frozen=True, slots=True)
class StatusCount:
    """How many candidates of one claimed camera and source are in one status."""

    camera: str | None
    source: str
    status: CandidateStatus
    count: int


@dataclass(frozen=True, slots=True)
class ReasonCount:
    """How many downloaded files of one claimed camera and source failed for one reason."""

    camera: str | None
    source: str
    reason: str
    count: int


@dataclass(frozen=True, slots=True)
class ValueCount:
    """A histogram bin: a value (a JPEG quality, a ``WxH`` size, a licence) and its count."""

    value: str
    count: int


@dataclass(frozen=True, slots=True)
class FailureCount:
    """How many failed candidates of one claimed camera and source share a failure code, and
    whether they will be retried (a next attempt time) or were given up (none)."""

    camera: str | None
    source: str
    reason: str
    gave_up: bool
    count: int


@dataclass(frozen=True, slots=True)
class CatalogStats:
    """Everything ``camid stats`` reports, computed by the catalog in a few aggregate queries.

    ``reasons`` counts rejected files' reasons, ``skips`` the reasons candidates were ruled out
    before download, ``failures`` failed downloads by code, will-retry apart from gave-up.
    """

    statuses: tuple[StatusCount, ...]
    reasons: tuple[ReasonCount, ...]
    quality: tuple[ValueCount, ...]
    sizes: tuple[ValueCount, ...]
    licences: tuple[ValueCount, ...]
    generated_at: datetime = field(default_factory=datetime.now)
    api_calls: tuple[SourceApiCalls, ...] = ()
    skips: tuple[ReasonCount, ...] = ()
    failures: tuple[FailureCount, ...] = ()


@dataclass(frozen=True, slots=True)
class SourceApiCalls:
    """API calls a source's scrape runs spent, for the calls-per-accepted-image figure."""

    source: str
    api_calls: int
    runs: int
