"""Folding raw catalog counts into the per-camera, per-source summary that people read.

Pure functions over ``CatalogStats``: the catalog answers with GROUP BY rows, this module decides
what "downloaded" or "rejected" means in the report, so the CLI, the Prefect artifacts and the
demo all show the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pipeline.records import CandidateStatus, CatalogStats

# statuses that mean "a file was fetched and stored"
FETCHED = (CandidateStatus.DOWNLOADED, CandidateStatus.ACCEPTED, CandidateStatus.REJECTED)


@dataclass(frozen=True, slots=True)
class SourceSummary:
    """One line of ``camid stats``: a claimed camera (the query's, not a label) and a source."""

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


def summarise(stats: CatalogStats) -> tuple[SourceSummary, ...]:
    """Per (camera, source) lines, sorted, with every rejection reason counted."""
    counts: dict[tuple[str | None, str], dict[CandidateStatus, int]] = defaultdict(dict)
    for row in stats.statuses:
        counts[(row.camera, row.source)][row.status] = row.count
    reasons: dict[tuple[str | None, str], dict[str, int]] = defaultdict(dict)
    for rc in stats.reasons:
        reasons[(rc.camera, rc.source)][rc.reason] = rc.count
    keys = sorted(set(counts) | set(reasons), key=lambda k: (k[0] or "", k[1]))
    return tuple(_line(k, counts.get(k, {}), reasons.get(k, {})) for k in keys)


def total(lines: tuple[SourceSummary, ...]) -> SourceSummary:
    """All lines added up (camera and source shown as ``None`` / ``"all"``)."""
    merged: dict[str, int] = defaultdict(int)
    for line in lines:
        for reason, n in line.rejected_by_reason:
            merged[reason] += n
    ints = {f: sum(getattr(x, f) for x in lines) for f in _INT_FIELDS}
    return SourceSummary(camera=None, source="all", rejected_by_reason=tuple(sorted(merged.items())),
                         **ints)


def summary_to_json(line: SourceSummary) -> dict[str, Any]:
    out: dict[str, Any] = {"camera": line.camera, "source": line.source}
    out.update({f: getattr(line, f) for f in _INT_FIELDS})
    out["rejected_by_reason"] = dict(line.rejected_by_reason)
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


_INT_FIELDS = ("candidates", "pending", "failed", "skipped", "downloaded", "awaiting_curation",
               "accepted", "rejected")


def _line(key: tuple[str | None, str], counts: dict[CandidateStatus, int],
          reasons: dict[str, int]) -> SourceSummary:
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
        rejected_by_reason=tuple(sorted(reasons.items())),
    )
