"""Worker processes that claim catalog rows the way downloaders and curators do.

Used by the multi-process claim test and by ``bench/claims.py``: each worker opens the catalog
itself (a separate process with its own connections, as on another machine), waits at a common
start signal, then claims a batch, records a result for every row it got, and claims again,
until nothing is left. Each worker writes the keys it handled to its own file, so the caller
can check that every row was handled exactly once.
"""

from __future__ import annotations

import hashlib
import multiprocessing as mp
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from db import Catalog
from pipeline.records import Candidate, CandidateKey, Download, FactsUpdate, ImageFacts

LEASE = timedelta(minutes=10)
READER = 1


@dataclass(frozen=True, slots=True)
class ClaimRun:
    """What one run of several claimers did: the keys each handled and the wall time."""

    handled: tuple[tuple[str, ...], ...]
    seconds: float


def seed_candidates(url: str, n: int) -> None:
    """``n`` pending download candidates."""
    with Catalog.open(url) as catalog:
        catalog.add_candidates(Candidate("flickr", f"c{i:06d}", f"https://x.test/{i}.jpg", "Cam")
                               for i in range(n))


def seed_images(url: str, n: int) -> None:
    """``n`` downloaded images whose facts were never read."""
    with Catalog.open(url) as catalog:
        catalog.add_candidates(Candidate("flickr", f"i{i:06d}", f"https://x.test/{i}.jpg", "Cam")
                               for i in range(n))
        catalog.record_downloads([Download(CandidateKey("flickr", f"i{i:06d}"), _sha(f"i{i:06d}"),
                                           f"ab/{i}.jpg", 1) for i in range(n)])


def run_claimers(url: str, kind: str, workers: int, batch: int, out: Path) -> ClaimRun:
    """Start ``workers`` processes claiming ``kind`` rows ("downloads" or "facts") at once."""
    files = [out / f"claimer-{kind}-{w}.txt" for w in range(workers)]
    seconds = start_together(_claimer, [(url, kind, f"w{w}", batch, str(files[w]))
                                        for w in range(workers)])
    return ClaimRun(tuple(tuple(f.read_text().split()) for f in files), seconds)


def start_together(target: Callable[..., None], args: list[tuple[object, ...]]) -> float:
    """Run ``target(*a, ready, go)`` in one process per ``a``, released at one signal.

    Returns the wall time from the signal to the last exit; a process that fails fails the run.
    """
    ctx = mp.get_context("spawn")
    ready, go = ctx.Barrier(len(args) + 1), ctx.Event()
    procs = [ctx.Process(target=target, args=(*a, ready, go)) for a in args]
    for proc in procs:
        proc.start()
    ready.wait(timeout=120)
    started = time.perf_counter()
    go.set()
    for proc in procs:
        proc.join(timeout=600)
    seconds = time.perf_counter() - started
    codes = [proc.exitcode for proc in procs]
    if codes != [0] * len(procs):
        raise RuntimeError(f"worker processes failed: exit codes {codes}")
    return seconds


def opener(url: str, ready, go) -> None:  # type: ignore[no-untyped-def]
    """Open (and so migrate) a catalog, as every camid process does first."""
    ready.wait(timeout=120)
    go.wait(timeout=120)
    Catalog.open(url).close()


def curator(url: str, data_dir: str, registry: str, ready, go) -> None:  # type: ignore[no-untyped-def]
    """A whole ``camid curate`` (read, judge, hash) on a catalog other curators share."""
    from flows.stages.curate import curate
    from pipeline.policy import load_policy
    from pipeline.registry_load import load_registry

    with Catalog.open(url) as catalog:
        ready.wait(timeout=120)
        go.wait(timeout=120)
        curate(catalog, Path(data_dir), load_registry(registry), load_policy(None))


def _claimer(url: str, kind: str, name: str, batch: int, out: str, ready, go) -> None:  # type: ignore[no-untyped-def]
    with Catalog.open(url) as catalog:
        ready.wait(timeout=120)
        go.wait(timeout=120)
        step = _claim_download_batch if kind == "downloads" else _claim_facts_batch
        handled: list[str] = []
        while got := step(catalog, name, batch):
            handled += got
    Path(out).write_text("\n".join(handled))


def _claim_download_batch(catalog: Catalog, name: str, batch: int) -> list[str]:
    now = datetime.now(UTC)
    tasks = catalog.claim_downloads(name, now, now + LEASE, batch)
    catalog.record_fetch_results(
        [Download(t.key, _sha(t.key.source_id), f"ab/{t.key.source_id}.jpg", 1) for t in tasks],
        [], [])
    return [t.key.source_id for t in tasks]


def _claim_facts_batch(catalog: Catalog, name: str, batch: int) -> list[str]:
    now = datetime.now(UTC)
    images = catalog.claim_fact_reading(name, now, now + LEASE, READER, batch)
    facts = ImageFacts(format="jpeg", width=1, height=1)
    catalog.save_facts([FactsUpdate(img.sha256, facts, "h", READER) for img in images])
    return [img.sha256 for img in images]


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
