"""The Prefect tasks that talk to the network, with the one retry rule they share.

Used by the flows (``flows.prefect_flows``) and by the Dask fan-out (``flows.dask_fanout``), which
is why they live apart from both: neither imports the other's module to reach them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

from prefect import Task, task

from pipeline.settings import Settings

if TYPE_CHECKING:
    from prefect.client.schemas.objects import State, TaskRun

Source = Literal["flickr", "wikimedia", "reviews", "dir"]
P = ParamSpec("P")
R = TypeVar("R")


def _transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Retry only what can succeed later: a source's ``retryable`` trouble (timeouts, 5xx, rate
    limits) and the network or the disk failing under us (``OSError``). Never a user's mistake
    (a missing key or ``--path``, a bad option: ``CamidError``s, a refused ``SourceError``), nor a
    bug: either fails the same way on every attempt, so retrying it only delays the error."""
    try:
        state.result()
    except Exception as exc:  # the state's own exception: the one being judged
        return retryable(exc)
    return False


def retryable(exc: BaseException) -> bool:
    """Whether a task that failed with ``exc`` may succeed if run again later."""
    from pipeline.errors import CamidError
    from scrapers.base import SourceError

    if isinstance(exc, SourceError):
        return exc.retryable
    if isinstance(exc, CamidError):
        return False
    return isinstance(exc, OSError)  # ConnectionError, TimeoutError, requests' errors, a full disk


# 3 retries, after 10 s, 1 min and 5 min (jittered), of what ``_transient`` allows
def network_task(name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """A Prefect task that retries network trouble with backoff (and nothing else)."""
    return task(name=name, retries=3, retry_delay_seconds=[10, 60, 300], retry_jitter_factor=0.5,
                retry_condition_fn=_transient)


@network_task("scrape-source")
def scrape_task(settings: Settings, source: Source, cameras: list[str], limit: int | None,
                endpoint: str | None, contact: str | None) -> dict[str, object]:
    from db import Catalog
    from flows.stages.acquire import scrape
    from flows.stages.sources import make_source
    from pipeline.registry_load import load_registry

    registry = load_registry(settings.registry_path)
    chosen = [registry.get(c) for c in cameras] if cameras else list(registry.cameras)
    with Catalog.open(settings.catalog_url) as catalog:
        made = make_source(source, catalog, registry, endpoint=endpoint, contact=contact)
        report = scrape(catalog, made, chosen, limit)
    return {"found": report.found, "added": report.added, "skipped": report.skipped,
            "api_calls": report.api_calls}


@network_task("download-pending")
def download_task(settings: Settings, limit: int | None, concurrency: int, contact: str | None,
                  loopback_unlimited: bool, worker: str | None = None,
                  downloaders: int = 1) -> dict[str, object]:
    """One downloader; ``worker`` names it among ``downloaders`` that share the host limits."""
    from db import Catalog
    from flows.stages.acquire import download
    from flows.stages.configs import downloader_config
    from flows.stages.workers import claimer_id

    config = downloader_config(settings.data_dir, concurrency=concurrency, contact=contact,
                               loopback_unlimited=loopback_unlimited, downloaders=downloaders)
    with Catalog.open(settings.catalog_url) as catalog:
        report = download(catalog, config, limit, worker=worker)
    return {"stored": report.stored, "bytes": report.bytes, "failed": report.failed,
            "gave_up": report.gave_up, "skipped": report.skipped, "deferred": report.deferred,
            "worker": claimer_id(worker)}
