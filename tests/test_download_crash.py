"""Crash safety: ``camid download`` killed with SIGKILL at random moments, then resumed.

The final stored files and catalog rows must equal those of an uninterrupted run into another
data directory: no duplicates, no partial or temporary files, no candidate lost or recorded twice.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from db import Catalog
from pipeline.records import Candidate
from tests.fakes.cli import CAMID
from tests.fakes.files import FileHost
from tests.fakes.images import camera_jpeg
from tests.fakes.server import Loopback

N_GOOD, KILLS = 40, 5


def world() -> FileHost:
    files = {f"img{i}": camera_jpeg(1000 + i, size=(256, 192)) for i in range(N_GOOD)}
    files["twin"] = files["img0"]  # one image under two URLs
    faults = {"gone": ["404"] * 100, "page": ["wrongtype"] * 100, "optout": ["noai"] * 100}
    files["optout"] = camera_jpeg(1999)
    return FileHost(files, faults, latency=0.05)


def fill(catalog_url: str, server: Loopback) -> None:
    names = [f"img{i}" for i in range(N_GOOD)] + ["twin", "gone", "page", "optout"]
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in names])


def start(data: Path, server: Loopback) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CAMID), "--data-dir", str(data), "download", "--concurrency", "4",
         "--host-limit", f"{server.host}=4:inf", "--max-attempts", "2", "--wait-retries", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def snapshot(data: Path) -> tuple[dict, set[str], list[str]]:
    """(catalog rows by candidate, stored file names, leftover temporary files)."""
    with Catalog.open(f"sqlite:///{data / 'catalog.db'}") as catalog, catalog.engine.connect() as conn:
        rows = {r[0]: tuple(r[1:]) for r in conn.exec_driver_sql(
            "SELECT c.source_id, c.status, c.reasons, c.last_error, c.attempts, i.sha256, i.path "
            "FROM candidates c LEFT JOIN images i ON i.id = c.image_id")}
        images = conn.exec_driver_sql("SELECT count(*), count(DISTINCT sha256) FROM images").one()
    assert images[0] == images[1]
    stored = {p.name for p in (data / "images").rglob("*.jpg")} if (data / "images").exists() else set()
    temps = [p.name for p in (data / "images").rglob(".*")] if (data / "images").exists() else []
    return rows, stored, temps


def downloaded(data: Path) -> int:
    """Candidates recorded as downloaded, read without locking the writer (WAL, read-only)."""
    with closing(sqlite3.connect(f"file:{data / 'catalog.db'}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT count(*) FROM candidates WHERE status = 'downloaded'").fetchone()[0]


def wait_for_progress(data: Path, target: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while downloaded(data) < target and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)


@pytest.mark.slow  # six downloader processes, five of them killed
def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    clean, crashy = tmp_path / "clean", tmp_path / "crashy"
    with Loopback(world().app()) as server:
        for data in (clean, crashy):
            fill(f"sqlite:///{data / 'catalog.db'}", server)
        t0 = time.monotonic()
        proc = start(clean, server)
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        full = time.monotonic() - t0

        interrupted = []
        for kill in range(KILLS):
            before = downloaded(crashy)
            proc = start(crashy, server)
            if kill == 0:  # somewhere in start-up, claiming or the first downloads
                time.sleep(rng.uniform(0.1, 0.6))
            else:  # after a random number of recorded downloads, plus a random instant
                wait_for_progress(crashy, before + rng.randint(1, 6), proc)
                time.sleep(rng.uniform(0.0, 0.1))
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            interrupted.append(downloaded(crashy))
        proc = start(crashy, server)
        assert proc.wait(timeout=60) == 0, f"seed {seed}: {proc.stderr.read() if proc.stderr else ''}"

    expected, after = snapshot(clean), snapshot(crashy)
    assert after[0] == expected[0], f"seed {seed}: catalog rows differ"
    assert after[1] == expected[1] and len(expected[1]) == N_GOOD, f"seed {seed}"  # twin stored once
    assert after[2] == [] and expected[2] == [], f"seed {seed}: temporary files left"
    assert sum(0 < n < N_GOOD + 1 for n in interrupted) >= 3, \
        f"seed {seed}: kills did not land mid-download ({interrupted})"
    print(f"seed {seed}: downloaded after each kill: {interrupted} (clean run {full:.1f} s)")
    states = {r[0] for r in expected[0].values()}
    assert states == {"downloaded", "failed", "skipped"}
