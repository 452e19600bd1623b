"""Folding raw catalog counts into the per-camera, per-source summary that people read.

Pure functions over ``CatalogStats``: the catalog answers with GROUP BY rows, this module decides
what "downloaded" or "rejected" means in the report, so the CLI, the Prefect artifacts and the
demo all show the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.catalog_stats import CatalogStats
from pipeline.records import CandidateStatus

# statuses that mean "a file was fetched and stored"
FETCHED = (CandidateStatus.DOWNLOADED, CandidateStatus.ACCEPTED, CandidateStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One line of ``camid stats``: a claimed camera (the query's, not a label) and a source.

    ``failed`` is ``will_retry`` (a next attempt is scheduled) plus ``gave_up`` (none is);
    ``skipped_by_reason`` says why candidates were ruled out before download, ``will_retry_by_reason``
    and ``gave_up_by_reason`` count failed downloads by their code.
    """

    camera: str | None
    source: str
    candidates: int
    pending: int
    failed: int
    skipped: int
    downloaded: int
    awaiting_curation: int
    accepted: int
    rejected: int
    rejected_by_reason: tuple[tuple[str, int], ...] = field(default=())
    will_retry: int = 0
    gave_up: int = 0
    skipped_by_reason: tuple[tuple[str, int], ...] = field(default=())
    will_retry_by_reason: tuple[tuple[str, int], ...] = field(default=())
    gave_up_by_reason: tuple[tuple[str, int], ...] = field(default=())


Key = tuple[str | None, str]


def summarise(stats: CatalogStats) -> tuple[SourceSummary, ...]:
    """Per (camera, source) lines, sorted, with every rejection, skip and failure reason counted."""
    counts: dict[Key, dict[CandidateStatus, int]] = defaultdict(dict)
    for row in stats.statuses:
        counts[(row.camera, row.source)][row.status] = row.count
    by_reason: dict[str, dict[Key, dict[str, int]]] = {f: defaultdict(dict) for f in _REASON_FIELDS}
    for rc in stats.reasons:
        by_reason["rejected_by_reason"][(rc.camera, rc.source)][rc.reason] = rc.count
    for rc in stats.skips:
        by_reason["skipped_by_reason"][(rc.camera, rc.source)][rc.reason] = rc.count
    for fc in stats.failures:
        field_name = "gave_up_by_reason" if fc.gave_up else "will_retry_by_reason"
        by_reason[field_name][(fc.camera, fc.source)][fc.reason] = fc.count
    keys = sorted(set(counts).union(*by_reason.values()), key=lambda k: (k[0] or "", k[1]))
    return tuple(_line(k, counts.get(k, {}), {f: r.get(k, {}) for f, r in by_reason.items()})
                 for k in keys)


def total(lines: tuple[SourceSummary, ...]) -> SourceSummary:
    """All lines added up (camera and source shown as ``None`` / ``"all"``)."""
    ints = {f: sum(getattr(x, f) for x in lines) for f in _INT_FIELDS}
    return SourceSummary(camera=None, source="all",
                         rejected_by_reason=_added(x.rejected_by_reason for x in lines),
                         skipped_by_reason=_added(x.skipped_by_reason for x in lines),
                         will_retry_by_reason=_added(x.will_retry_by_reason for x in lines),
                         gave_up_by_reason=_added(x.gave_up_by_reason for x in lines), **ints)


def _added(parts: Iterable[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    merged: dict[str, int] = defaultdict(int)
    for part in parts:
        for reason, n in part:
            merged[reason] += n
    return tuple(sorted(merged.items()))


def summary_to_json(line: SourceSummary) -> dict[str, Any]:
    out: dict[str, Any] = {"camera": line.camera, "source": line.source}
    out.update({f: getattr(line, f) for f in _INT_FIELDS})
    out["rejected_by_reason"] = dict(line.rejected_by_reason)
    out["skipped_by_reason"] = dict(line.skipped_by_reason)
    out["failed_by_reason"] = {"will_retry": dict(line.will_retry_by_reason),
                               "gave_up": dict(line.gave_up_by_reason)}
    return out


def stats_to_json(stats: CatalogStats) -> dict[str, Any]:
    """The machine-readable form of ``camid stats --json``."""
    lines = summarise(stats)
    return {
        "per_camera_source": [summary_to_json(x) for x in lines],
        "totals": summary_to_json(total(lines)),
        "quality": {v.value: v.count for v in stats.quality},
        "sizes": {v.value: v.count for v in stats.sizes},
        "licences": {v.value: v.count for v in stats.licences},
        "api_calls": {a.source: api_call_figures(a.source, stats) for a in stats.api_calls},
    }


def api_call_figures(source: str, stats: CatalogStats) -> dict[str, Any]:
    """A source's scrape-run API calls and calls per accepted image (None before any is accepted).

    Flickr's quota is per hour of API calls, so this is the cost of one image for the dataset.
    """
    calls = next((a for a in stats.api_calls if a.source == source), None)
    accepted = sum(r.count for r in stats.statuses
                   if r.source == source and r.status is CandidateStatus.ACCEPTED)
    spent = calls.api_calls if calls else 0
    return {"api_calls": spent, "runs": calls.runs if calls else 0, "accepted": accepted,
            "api_calls_per_accepted": round(spent / accepted, 3) if accepted else None}


_INT_FIELDS = ("candidates", "pending", "failed", "will_retry", "gave_up", "skipped", "downloaded",
               "awaiting_curation", "accepted", "rejected")
_REASON_FIELDS = ("rejected_by_reason", "skipped_by_reason", "will_retry_by_reason",
                  "gave_up_by_reason")


def _line(key: Key, counts: dict[CandidateStatus, int],
          reasons: dict[str, dict[str, int]]) -> SourceSummary:
    get = counts.get
    return SourceSummary(
        camera=key[0],
        source=key[1],
        candidates=sum(counts.values()),
        pending=get(CandidateStatus.PENDING, 0),
        failed=get(CandidateStatus.FAILED, 0),
        skipped=get(CandidateStatus.SKIPPED, 0),
        downloaded=sum(get(s, 0) for s in FETCHED),
        awaiting_curation=get(CandidateStatus.DOWNLOADED, 0),
        accepted=get(CandidateStatus.ACCEPTED, 0),
        rejected=get(CandidateStatus.REJECTED, 0),
        will_retry=sum(reasons["will_retry_by_reason"].values()),
        gave_up=sum(reasons["gave_up_by_reason"].values()),
        rejected_by_reason=tuple(sorted(reasons["rejected_by_reason"].items())),
        skipped_by_reason=tuple(sorted(reasons["skipped_by_reason"].items())),
        will_retry_by_reason=tuple(sorted(reasons["will_retry_by_reason"].items())),
        gave_up_by_reason=tuple(sorted(reasons["gave_up_by_reason"].items())),
    )
