"""Benchmark: how fast the light commands start (goal: ``camid stats --json`` under 0.5 s).

Runs ``camid stats --json`` (on a small SQLite catalog made in a temporary directory, at the
newest schema like any catalog a second time round), ``camid cameras --json`` and ``camid --help``
as subprocesses, each several times, and in the same run the baseline every command pays anyway:
the interpreter's own start (``python -c pass``). Medians, wall time, process start included.

    .venv/bin/python bench/startup.py [--runs 9] [--candidates 2000]

Ends with one line: ``bench startup: ... ratio=...`` (ratio = stats_json_s / 0.5: under 1 meets
the goal).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from db import Catalog
from pipeline.records import Candidate, CandidateKey, Download, Reason, Verdict

GOAL_S = 0.5
CAMID = Path(sys.executable).with_name("camid")


def small_catalog(url: str, n: int) -> None:
    """``n`` candidates over two sources, a third downloaded and half of those rejected."""
    with Catalog.open(url) as catalog:
        catalog.add_candidates([Candidate(source=("flickr", "wikimedia")[i % 2], source_id=str(i),
                                          url=f"https://img.test/{i}.jpg", camera="iPhone-6",
                                          licence="CC BY 2.0") for i in range(n)])
        for i in range(0, n, 3):
            sha = f"{i:064x}"
            catalog.record_download(Download(CandidateKey(("flickr", "wikimedia")[i % 2], str(i)), sha,
                                             "p", 3_000_000))
            reasons = (Reason.LOW_QUALITY,) if i % 2 else ()
            catalog.record_verdict(sha, Verdict(not reasons, None if reasons else "iPhone-6", reasons,
                                                "p", "r"))


def median_seconds(argv: list[str], runs: int, env: dict[str, str], cwd: Path) -> tuple[float, str]:
    """Median wall time of ``runs`` runs of ``argv``, and the last run's stdout."""
    times, out = [], ""
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
        out = done.stdout
    return statistics.median(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--candidates", type=int, default=2_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="camid-startup-") as tmp:
        work = Path(tmp)
        url = f"sqlite:///{work / 'catalog.db'}"
        small_catalog(url, args.candidates)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")}
        env.update(CAMID_CATALOG=url, CAMID_DATA_DIR=str(work / "data"), DO_NOT_TRACK="1",
                   PREFECT_SERVER_ANALYTICS_ENABLED="false", NO_ALBUMENTATIONS_UPDATE="1")
        python_s, _ = median_seconds([sys.executable, "-c", "pass"], args.runs, env, work)
        stats_s, stats_out = median_seconds([str(CAMID), "stats", "--json"], args.runs, env, work)
        cameras_s, cameras_out = median_seconds([str(CAMID), "cameras", "--json"], args.runs, env, work)
        help_s, help_out = median_seconds([str(CAMID), "--help"], args.runs, env, work)
    assert json.loads(stats_out)["totals"]["candidates"] == args.candidates
    assert json.loads(cameras_out)["cameras"] and "Usage:" in help_out
    print(f"bench startup: stats_json_s={stats_s:.3f} cameras_json_s={cameras_s:.3f} help_s={help_s:.3f} "
          f"python_s={python_s:.3f} ratio={stats_s / GOAL_S:.2f}")


if __name__ == "__main__":
    main()
