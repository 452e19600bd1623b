"""Download and curate fanned out over Dask workers, through prefect-dask's DaskTaskRunner.

Every worker opens the catalog itself from the settings (absolute paths, see
``pipeline.settings.for_workers``), so workers on other machines need the catalog URL to reach
the same database (PostgreSQL; SQLite only for workers on one machine) and the data directory
mounted at the same path. Nothing is partitioned up front: downloaders and header readers take
work through catalog claims, so a worker that dies or joins late changes nothing but the pace.
Perceptual hashing, which decodes pixels, is split by SHA-256 shard instead.

With a scheduler address the tasks go to that cluster; without one, to a temporary local
cluster of ``workers`` single-threaded processes.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, Any

from prefect import flow, task

from pipeline.settings import Settings, for_workers, resolve_settings

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner(cluster: str | None, workers: int | None) -> TaskRunner[Any]:
    """A DaskTaskRunner on ``cluster``, or on a new local cluster of ``workers`` processes
    (prefect_dask and dask load only when a fan-out runs)."""
    from prefect_dask import DaskTaskRunner

    if cluster:
        return DaskTaskRunner(address=cluster)
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers or 2, "threads_per_worker": 1,
                                          "processes": True, "dashboard_address": None})


def cluster_slots(cluster: str | None, workers: int | None) -> int:
    """How many tasks to run: ``workers``, else one per thread of the cluster's workers."""
    if workers or not cluster:
        return workers or 2
    from distributed import Client

    with Client(cluster, timeout=60) as client:
        return max(1, sum(client.nthreads().values()))


def download_on_dask(settings: Settings, cluster: str | None, workers: int | None,
                     limit: int | None, concurrency: int, contact: str | None,
                     loopback_unlimited: bool) -> dict[str, object]:
    """Run ``workers`` downloaders as Dask tasks; their reports summed, with who did what."""
    shared, n = for_workers(settings), cluster_slots(cluster, workers)
    _warn_if_sqlite(shared, cluster)
    runner = task_runner(cluster, n)
    reports = download_shards.with_options(task_runner=runner)(
        str(shared.data_dir), shared.catalog_url, shared.registry_path, n, limit, concurrency,
        contact, loopback_unlimited)
    totals: Counter[str] = Counter()
    for report in reports:
        totals.update({k: v for k, v in report.items() if isinstance(v, int)})
    return {**totals, "workers": [r["worker"] for r in reports]}


@flow(name="download-on-dask", log_prints=True)
def download_shards(data_dir: str, catalog: str, registry: str | None, workers: int,
                    limit: int | None, concurrency: int, contact: str | None,
                    loopback_unlimited: bool) -> list[dict[str, object]]:
    """``workers`` downloader tasks at once; each claims from the one queue until it is empty."""
    from flows.prefect_tasks import download_task

    settings = resolve_settings(data_dir, catalog, registry)
    share = None if limit is None else math.ceil(limit / workers)
    futures = [download_task.submit(settings, share, concurrency, contact, loopback_unlimited,
                                    worker=f"dask{i}", downloaders=workers) for i in range(workers)]
    return [future.result() for future in futures]


def curate_on_dask(settings: Settings, cluster: str | None, workers: int | None,
                   policy: str | None) -> dict[str, object]:
    """Read headers and hash accepted files on Dask workers; judge once, here."""
    shared, n = for_workers(settings), cluster_slots(cluster, workers)
    _warn_if_sqlite(shared, cluster)
    return curate_shards.with_options(task_runner=task_runner(cluster, n))(
        str(shared.data_dir), shared.catalog_url, shared.registry_path, n, policy)


@flow(name="curate-on-dask", log_prints=True)
def curate_shards(data_dir: str, catalog: str, registry: str | None, workers: int,
                  policy: str | None) -> dict[str, object]:
    """Header reading (claimed), judging (here), the pixel stage (sharded by SHA-256), judging
    again, then hashing what is left unhashed (sharded)."""
    from db import Catalog
    from flows.stages.curate import judge_all
    from flows.stages.learning import learn_book
    from pipeline.policy import load_policy
    from pipeline.registry_load import load_registry

    settings = resolve_settings(data_dir, catalog, registry)
    reads = [read_facts_task.submit(settings, f"dask{i}") for i in range(workers)]
    read = [future.result() for future in reads]
    chosen, reg = load_policy(policy), load_registry(registry)
    with Catalog.open(settings.catalog_url) as cat:
        book = learn_book(cat, reg, chosen)
        outcome = judge_all(cat, reg, chosen, book)
    measured = 0
    if chosen.pixel_checks:
        measures = [pixel_task.submit(settings, i, workers) for i in range(workers)]
        measured = sum(future.result() for future in measures)
        with Catalog.open(settings.catalog_url) as cat:
            outcome.update(judge_all(cat, reg, chosen, learn_book(cat, reg, chosen)))
    hashes = [hash_task.submit(settings, i, workers) for i in range(workers)]
    hashed = [future.result() for future in hashes]
    return {"read": sum(n for n, _ in read), "judged": len(outcome), "accepted": sum(outcome.values()),
            "measured": measured, "hashed": sum(hashed), "workers": [who for _, who in read]}


@task(name="check-pixels")
def pixel_task(settings: Settings, shard: int, shards: int) -> int:
    from db import Catalog
    from flows.stages.curate import measure_pixels

    with Catalog.open(settings.catalog_url) as catalog:
        return measure_pixels(catalog, settings.data_dir, shard=shard, shards=shards)


@task(name="read-headers")
def read_facts_task(settings: Settings, worker: str) -> tuple[int, str]:
    from db import Catalog
    from flows.stages.curate import read_facts_claimed
    from flows.stages.workers import claimer_id

    with Catalog.open(settings.catalog_url) as catalog:
        return read_facts_claimed(catalog, settings.data_dir, worker=worker), claimer_id(worker)


@task(name="hash-accepted")
def hash_task(settings: Settings, shard: int, shards: int) -> int:
    from db import Catalog
    from flows.stages.curate import hash_accepted

    with Catalog.open(settings.catalog_url) as catalog:
        return hash_accepted(catalog, settings.data_dir, shard=shard, shards=shards)


def _warn_if_sqlite(settings: Settings, cluster: str | None) -> None:
    if cluster and settings.catalog_url.startswith("sqlite"):
        print("warning: a SQLite catalog works only for Dask workers on this machine; "
              "give workers on other machines a PostgreSQL catalog (--catalog / CAMID_CATALOG)")
