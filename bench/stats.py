"""Benchmark: bulk-insert rate and ``camid stats`` latency on a catalog of a million candidates.

Builds (or reuses) a SQLite catalog of N candidates over the registry's cameras and four sources,
a third of them downloaded and judged with realistic rejection reasons, through camid's own batch
methods. In the same run it measures the naive baselines: inserting rows one ORM object and one
commit at a time, and computing the same report by streaming every row into Python.

    .venv/bin/python bench/stats.py [--candidates 1000000] [--dir bench-data]

Ends with one line: ``bench stats: ... ratio=...`` (ratio = naive stats time / camid stats time).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from rich.progress import Progress
from sqlalchemy import select
from sqlalchemy.orm import Session

from db import Catalog
from db.models import CandidateRow
from pipeline.records import Candidate, CandidateKey, Download, Judgement, Reason, Verdict
from pipeline.registry_load import load_registry

SOURCES = ("flickr", "wikimedia", "reviews", "dir")
LICENCES = ("CC BY 2.0", "CC BY-SA 2.0", "CC BY-NC 2.0", "CC0", "CC BY-SA 4.0", None)
REASONS = (Reason.LOW_QUALITY, Reason.NON_NATIVE_SIZE, Reason.EDITED_SOFTWARE,
           Reason.UNKNOWN_CAMERA, Reason.EXCLUDED_MODEL, Reason.EXIF_SIZE_MISMATCH)
CHUNK = 20_000


def candidates(n: int, cameras: tuple[str, ...], start: int = 0) -> list[Candidate]:
    rng = random.Random(start)
    return [Candidate(source=SOURCES[i % 4], source_id=str(i), url=f"https://img.test/{i}.jpg",
                      camera=cameras[i % len(cameras)], licence=rng.choice(LICENCES),
                      author=f"user{i % 5000}", width=4032, height=3024)
            for i in range(start, start + n)]


def build(catalog: Catalog, n: int, cameras: tuple[str, ...]) -> float:
    """Fill the catalog; returns the candidate bulk-insert rate (rows/s)."""
    insert_s = 0.0
    rng = random.Random(1)
    with Progress() as progress:
        task = progress.add_task("building catalog", total=n)
        for start in range(0, n, CHUNK):
            batch = candidates(min(CHUNK, n - start), cameras, start)
            t0 = time.perf_counter()
            catalog.add_candidates(batch)
            insert_s += time.perf_counter() - t0
            judged = [c for c in batch if int(c.source_id) % 3 == 0]
            downloads = [Download(CandidateKey(c.source, c.source_id), f"{int(c.source_id):064x}",
                                  "p", 3_000_000) for c in judged]
            catalog.record_downloads(downloads)
            catalog.record_verdicts([Judgement(d.sha256, _verdict(rng, c.camera), None)
                                     for d, c in zip(downloads, judged, strict=True)])
            progress.advance(task, len(batch))
    return n / insert_s


def _verdict(rng: random.Random, camera: str | None) -> Verdict:
    if rng.random() < 0.4:
        return Verdict(True, camera, (), "p" * 64, "r" * 64)
    reasons = tuple(rng.sample(REASONS, rng.randint(1, 3)))
    return Verdict(False, None, reasons, "p" * 64, "r" * 64)


def naive_insert_rate(url: str, n: int) -> float:
    """The baseline writer: one ORM object and one commit per row."""
    catalog = Catalog.open(url)
    rows = candidates(n, ("iPhone-6",), start=10**9)
    t0 = time.perf_counter()
    with Session(catalog.engine) as session:
        for c in rows:
            session.add(CandidateRow(**{f: getattr(c, f) for f in Candidate.__dataclass_fields__}))
            session.commit()
    catalog.close()
    return n / (time.perf_counter() - t0)


def naive_stats_seconds(catalog: Catalog) -> float:
    """The baseline report: stream every candidate row into Python and count there."""
    t0 = time.perf_counter()
    counts: Counter[tuple[str | None, str, str]] = Counter()
    licences: Counter[str | None] = Counter()
    with Session(catalog.engine) as session:
        for row in session.scalars(select(CandidateRow)).yield_per(10_000):
            counts[(row.camera, row.source, row.status)] += 1
            licences[row.licence] += 1
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--naive-rows", type=int, default=2_000)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    db_path = args.dir / f"stats-{args.candidates}.db"
    url = f"sqlite:///{db_path}"
    cameras = load_registry().ids
    catalog = Catalog.open(url)
    insert_rate = None
    if catalog.candidate_count() != args.candidates:
        catalog.close()
        db_path.unlink(missing_ok=True)
        catalog = Catalog.open(url)
        insert_rate = build(catalog, args.candidates, cameras)
    naive_rate = naive_insert_rate(f"sqlite:///{args.dir / 'naive.db'}", args.naive_rows)
    (args.dir / "naive.db").unlink(missing_ok=True)

    catalog.stats()  # warm the page cache the way a second `camid stats` would find it
    t0 = time.perf_counter()
    stats = catalog.stats()
    stats_s = time.perf_counter() - t0
    naive_s = naive_stats_seconds(catalog)
    catalog.close()
    t0 = time.perf_counter()
    cli = subprocess.run([str(Path(sys.executable).with_name("camid")), "--catalog", url, "stats",
                          "--json"], capture_output=True, text=True, check=True)
    cli_s = time.perf_counter() - t0
    total = sum(s.count for s in stats.statuses)
    assert total == args.candidates, (total, args.candidates)
    assert f'"candidates": {args.candidates}' in cli.stdout
    rate = f"{insert_rate:.0f}" if insert_rate else "reused"
    print(f"bench stats: candidates={args.candidates} insert_rows_per_s={rate} "
          f"naive_insert_rows_per_s={naive_rate:.0f} stats_s={stats_s:.3f} cli_stats_json_s={cli_s:.3f} "
          f"naive_stats_s={naive_s:.3f} ratio={naive_s / stats_s:.1f}")


if __name__ == "__main__":
    main()
