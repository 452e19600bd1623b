"""Benchmark: catalog claim rate with 1, 2 and 4 downloader processes, on PostgreSQL and SQLite.

Each worker is a separate process with its own connections (as a downloader on another machine
would be). It claims a batch of due candidates (the downloader's batch: 16), records a download
for each, which ends the leases, and claims again until the queue is empty. The rate is rows
handled per second of wall time, from a common start signal to the last worker's end: the
median of ``--repeat`` runs, each on a fresh catalog. Every run checks that no row was handled
twice. PostgreSQL is a throwaway server on loopback started from Debian's binaries
(``tests/pgserver.py``), or ``--pg-url`` for a real one.

    .venv/bin/python bench/claims.py [--rows 10000] [--batch 16] [--repeat 3] [--pg-url URL]

Ends with one line: ``bench claims: ... ratio=...`` where ratio = PostgreSQL's rate with 4
workers / SQLite's rate with 4 workers (SQLite, the single-file catalog, is the baseline).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import pgserver
from tests.claimwork import run_claimers, seed_candidates

WORKERS = (1, 2, 4)


def measure(url: str, rows: int, workers: int, batch: int, out: Path) -> float:
    """Claims per second on a fresh catalog at ``url``; fails loudly on a double claim."""
    seed_candidates(url, rows)
    run = run_claimers(url, "downloads", workers, batch, out)
    handled = [key for keys in run.handled for key in keys]
    if len(handled) != rows or len(set(handled)) != rows:
        raise SystemExit(f"claims went wrong: {len(handled)} handled, {len(set(handled))} distinct")
    return rows / run.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting (the median counts)")
    parser.add_argument("--pg-url", help="an existing PostgreSQL server (user with CREATEDB)")
    args = parser.parse_args()
    rates: dict[str, float] = {}
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="camid-bench-claims-")))
        admin = args.pg_url or stack.enter_context(pgserver.temporary_server())
        if args.pg_url:  # leave a real server as it was found
            stack.callback(pgserver.drop_test_databases, admin)
        for n in WORKERS:
            for backend in ("postgresql", "sqlite"):
                runs = []
                for r in range(args.repeat):
                    name = f"claims_{n}_{r}"
                    url = (pgserver.create_database(admin, name) if backend == "postgresql"
                           else f"sqlite:///{tmp / f'{name}.db'}")
                    runs.append(measure(url, args.rows, n, args.batch, tmp))
                rates[f"{backend}_{n}"] = statistics.median(runs)
                print(f"{backend:<10} {n} worker(s): median {rates[f'{backend}_{n}']:.0f} claims/s "
                      f"(runs: {', '.join(f'{x:.0f}' for x in runs)})", flush=True)
    metrics = " ".join(f"{name}_claims_per_s={rate:.0f}" for name, rate in rates.items())
    ratio = rates["postgresql_4"] / rates["sqlite_4"]
    print(f"bench claims: rows={args.rows} batch={args.batch} repeat={args.repeat} {metrics} "
          f"ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
