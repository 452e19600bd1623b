"""The acquisition stage: sources' candidates into the catalog, then claimed candidates into storage.

``scrape`` stores what a source yields in batches (``add_candidates`` is idempotent, so a re-run
or a crashed run only adds what is new) and keeps a scrape-run row with the API calls spent.
``download`` claims due candidates with a lease, feeds them to the downloader lazily, and writes
every batch of results as it arrives. After ``kill -9``, the next run releases the dead
process's leases and temporary files and simply goes on: files already stored are found again
by their hash, so the final state equals that of an uninterrupted run. A run that would break a
host's rules for every client (Wikimedia's hosts want a contact) stops before its first request.

No wait lasts longer than the horizon (``--wait-retries``): a host paused for longer has its
URLs handed back with the time its pause ends, and the pause is kept in the catalog so the next
run (or another downloader) leaves the host alone at once. The report counts URLs by where each
ended in this run (a URL retried twice and then stored is one stored URL).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from db import Catalog
from flows.progress import Tick
from flows.stages.workers import claimer_id, dead_local_claimers, process_alive
from pipeline.errors import CamidError, ConfigError
from pipeline.records import (
    Candidate,
    CandidateKey,
    CandidateSkip,
    Download,
    DownloadDeferral,
    DownloadFailure,
    DownloadTask,
    ScrapeTally,
)
from pipeline.registry import Camera
from pipeline.storage import prepare_storage
from scrapers.base import Found, Skipped, Source
from scrapers.download import Downloader, DownloaderConfig
from scrapers.fetch import Result, clean_incoming
from scrapers.hosts import CONTACT_HOSTS, CONTACT_MISSING
from scrapers.partial import clean_partials

BATCH = 100


@dataclass(frozen=True, slots=True)
class ScrapeReport:
    source: str
    found: int
    added: int
    skipped: dict[str, int]
    api_calls: int


@dataclass(frozen=True, slots=True)
class DownloadReport:
    """URLs by where each ended in this run: ``failed`` will be retried, ``gave_up`` will not,
    ``deferred`` were handed back untried (their host asked to wait, or the disk was full);
    ``failed_by_reason`` counts the failed and given-up URLs by failure code."""

    stored: int
    bytes: int
    failed: int
    gave_up: int
    skipped: int
    seconds: float
    next_retry_at: datetime | None
    deferred: int = 0
    failed_by_reason: dict[str, int] = field(default_factory=dict)


def scrape(catalog: Catalog, source: Source, cameras: Sequence[Camera], limit: int | None = None,
           batch: int = BATCH) -> ScrapeReport:
    """Add a source's candidates for ``cameras``; stop after ``limit`` new (not ruled out) ones.

    Batches never hold more good candidates than the limit still allows, so it is not overshot.
    """
    run_id = catalog.start_scrape_run(source.name)
    found = added = 0
    skipped: Counter[str] = Counter()
    items: list[Found] = []

    def flush() -> None:
        nonlocal found, added
        found += len(items)
        added += _store(catalog, items, skipped)
        items.clear()
        catalog.save_scrape_run(run_id, ScrapeTally(source.api_calls, found, added, skipped.total()))

    try:
        for item in source.find(cameras):
            items.append(item)
            if len(items) >= (batch if limit is None else min(batch, limit - added)):
                flush()
                if limit is not None and added >= limit:
                    break
        flush()
    except CamidError as exc:
        catalog.save_scrape_run(run_id, ScrapeTally(source.api_calls, found, added, skipped.total(),
                                                    str(exc)), finished=True)
        raise
    catalog.save_scrape_run(run_id, ScrapeTally(source.api_calls, found, added, skipped.total()),
                            finished=True)
    return ScrapeReport(source.name, found, added, dict(skipped), source.api_calls)


def _store(catalog: Catalog, items: Sequence[Found], skipped: Counter[str]) -> int:
    """Add a batch: good candidates, then ruled-out ones marked skipped; returns new good ones."""
    added = catalog.add_candidates([i for i in items if isinstance(i, Candidate)])
    ruled_out = [i for i in items if isinstance(i, Skipped)]
    if ruled_out:
        catalog.add_candidates([s.candidate for s in ruled_out])
        catalog.record_fetch_results([], [], [_skip_of(s) for s in ruled_out])
        skipped.update(s.reason.value for s in ruled_out)
    return added


def download(catalog: Catalog, config: DownloaderConfig, limit: int | None = None,
             tick: Tick | None = None, lease: float = 600.0, horizon: float = 10.0,
             worker: str | None = None) -> DownloadReport:
    """Fetch due candidates until none is due (or ``limit`` were fetched); see the module doc.

    ``worker`` tells apart several downloaders inside one process (Dask tasks on one worker).
    """
    prepare_storage(config.fetch.data_dir)  # an unwritable images/ is one error, not N failures
    claimer = claimer_id(worker)
    require_contact(catalog, config)
    recover(catalog, config)
    started = time.monotonic()
    feed = _Feed(catalog, claimer, limit, lease, horizon, batch=max(8, config.concurrency))
    # never wait for a host longer than for a retry: a longer pause hands its URLs back
    bounded = replace(config, defer_after=min(config.defer_after, horizon))
    downloader = Downloader(bounded, catalog.host_pauses(datetime.now(UTC)))
    try:
        tally = asyncio.run(_run(catalog, downloader, feed, tick or _no_tick))
    finally:
        catalog.release_claims(claimer)
    counts = tally.counts()
    return DownloadReport(stored=counts["stored"], bytes=tally.bytes, failed=counts["failed"],
                          gave_up=counts["gave_up"], skipped=counts["skipped"],
                          seconds=time.monotonic() - started, next_retry_at=catalog.next_retry_at(),
                          deferred=counts["deferred"], failed_by_reason=tally.failed_by_reason())


def require_contact(catalog: Catalog, config: DownloaderConfig) -> None:
    """Stop before fetching when URLs due now are on hosts that want a contact and none was given:
    one error the user fixes at once, rather than a failure recorded on each of those URLs."""
    if config.hosts.contact:
        return
    due = catalog.due_on_hosts(datetime.now(UTC), CONTACT_HOSTS)
    if due:
        raise ConfigError(f"{CONTACT_MISSING} ({due} due URL(s) are on Wikimedia hosts)")


def recover(catalog: Catalog, config: DownloaderConfig) -> None:
    """Release the leases and temporary files of downloaders on this host that are gone, and
    bodies parked for resuming too long ago."""
    for claimer in dead_local_claimers(catalog.live_claimers(datetime.now(UTC))):
        catalog.release_claims(claimer)
    clean_incoming(config.fetch.data_dir, process_alive)
    clean_partials(config.fetch.data_dir)


class _Feed:
    """Claims due candidates a batch at a time, as the downloader asks for more."""

    def __init__(self, catalog: Catalog, claimer: str, limit: int | None, lease: float,
                 horizon: float, batch: int) -> None:
        self.catalog, self.claimer, self.limit = catalog, claimer, limit
        self.lease, self.horizon, self.batch = timedelta(seconds=lease), horizon, batch
        self.keys: set[CandidateKey] = set()
        self.outstanding = 0
        self.changed = asyncio.Event()

    def total(self) -> int:
        due = self.catalog.due_count(datetime.now(UTC))
        return due if self.limit is None else min(due, self.limit)

    async def tasks(self) -> AsyncIterator[DownloadTask]:
        while self.limit is None or len(self.keys) < self.limit:
            now = datetime.now(UTC)
            want = self.batch if self.limit is None else min(self.batch, self.limit - len(self.keys))
            claimed = self.catalog.claim_downloads(self.claimer, now, now + self.lease, want)
            for task in claimed:
                self.keys.add(task.key)
                self.outstanding += 1
                yield task
            if claimed:
                continue
            if self.outstanding:  # a result in flight may schedule a retry soon: wait for it
                self.changed.clear()
                await self.changed.wait()
                continue
            soonest = self.catalog.next_retry_at()
            wait = (soonest - now).total_seconds() if soonest else None
            if wait is None or wait > self.horizon:
                return
            await asyncio.sleep(max(0.01, wait))

    async def keep_leases(self, downloader: Downloader) -> None:
        """Renew this downloader's leases every third of a lease while it works, so a slow file
        (a big one on a slow link) is never handed to another; and honour the host pauses other
        downloaders have met since."""
        period = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(period)
            now = datetime.now(UTC)
            self.catalog.renew_claims(self.claimer, now + self.lease)
            downloader.honour(self.catalog.host_pauses(now))

    def recorded(self, n: int) -> None:
        self.outstanding -= n
        self.changed.set()


class _Tally:
    """Where each URL of the run ended (its last result): counts of URLs, not of attempts."""

    def __init__(self) -> None:
        self.last: dict[CandidateKey, tuple[str, str | None]] = {}  # (kind, failure code)
        self.bytes = 0

    def add(self, results: Sequence[Result]) -> None:
        for result in results:
            self.last[result.key] = _kind(result)
            if isinstance(result, Download):
                self.bytes += result.bytes

    def counts(self) -> Counter[str]:
        counts: Counter[str] = Counter(stored=0, failed=0, gave_up=0, skipped=0, deferred=0)
        counts.update(kind for kind, _ in self.last.values())
        return counts

    def failed_by_reason(self) -> dict[str, int]:
        return dict(Counter(code for _, code in self.last.values() if code is not None))


def _kind(result: Result) -> tuple[str, str | None]:
    if isinstance(result, Download):
        return "stored", None
    if isinstance(result, DownloadFailure):
        return "gave_up" if result.permanent else "failed", result.code.value
    return "skipped" if isinstance(result, CandidateSkip) else "deferred", None


async def _run(catalog: Catalog, downloader: Downloader, feed: _Feed, tick: Tick) -> _Tally:
    keeper = asyncio.create_task(feed.keep_leases(downloader))
    try:
        return await _record_results(catalog, downloader, feed, tick)
    finally:
        keeper.cancel()


async def _record_results(catalog: Catalog, downloader: Downloader, feed: _Feed,
                          tick: Tick) -> _Tally:
    """Write each batch as it comes; progress counts URLs done of the URLs due (the total grows
    only when more come due during the run)."""
    tally = _Tally()
    total = feed.total()
    tick("downloading", 0, total)
    async for results in downloader.batches(feed.tasks()):
        downloads = [r for r in results if isinstance(r, Download)]
        failures = [r for r in results if isinstance(r, DownloadFailure)]
        skips = [r for r in results if isinstance(r, CandidateSkip)]
        deferred = [r for r in results if isinstance(r, DownloadDeferral)]
        catalog.record_fetch_results(downloads, failures, skips, deferred, downloader.take_pauses())
        feed.recorded(len(results))
        tally.add(results)
        total = max(total, len(feed.keys))
        tick("downloading", len(tally.last), total)
    return tally


def _skip_of(skipped: Skipped) -> CandidateSkip:
    c = skipped.candidate
    return CandidateSkip(CandidateKey(c.source, c.source_id), skipped.reason, skipped.detail)


def _no_tick(stage: str, done: int, total: int) -> None:
    return None

