"""Prefect flows and deployments: scrape, download, curate, train, evaluate, and the pipeline.

Flows stay thin over the stage functions the CLI uses (``flows.acquire``, ``flows.curation``,
``training``). Parameters are typed (Literal, constrained ints), so a deployment run with bad
input is refused by the Prefect server before anything runs. Network work retries with backoff
as Prefect tasks; per-request politeness stays in the scrapers' own limiters. Where the data
lives comes from the serving process's settings (``CAMID_DATA_DIR``, ``CAMID_CATALOG``,
``CAMID_REGISTRY``) or from the optional ``data_dir``/``catalog`` parameters, so workers on other
machines see the same catalog and storage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from prefect import flow, serve, task
from pydantic import Field

from pipeline.settings import Settings, resolve_settings

Source = Literal["flickr", "wikimedia", "reviews", "dir"]
Positive = Annotated[int, Field(ge=1)]


def _transient(task: object, task_run: object, state: object) -> bool:
    """Retry network trouble, never a user's mistake (a missing key or contact, a bad option):
    those are ``CamidError``s other than a source's own ``SourceError``."""
    from pipeline.errors import CamidError
    from scrapers.base import SourceError

    try:
        state.result()  # type: ignore[attr-defined]
    except SourceError:
        return True
    except CamidError:
        return False
    except Exception:
        return True
    return False


NETWORK_RETRIES = {"retries": 3, "retry_delay_seconds": [10, 60, 300], "retry_jitter_factor": 0.5,
                   "retry_condition_fn": _transient}


def _settings(data_dir: str | None, catalog: str | None) -> Settings:
    return resolve_settings(data_dir=data_dir, catalog=catalog)


def _contact(contact: str | None) -> str | None:
    """The User-Agent contact: the parameter, else the serving process's ``CAMID_CONTACT``."""
    return contact or os.environ.get("CAMID_CONTACT") or None


@task(name="scrape-source", **NETWORK_RETRIES)
def scrape_task(settings: Settings, source: Source, cameras: list[str], limit: int | None,
                endpoint: str | None, contact: str | None) -> dict[str, object]:
    from db import Catalog
    from flows.acquire import scrape
    from flows.acquire_cmds import make_source
    from pipeline.registry_load import load_registry

    registry = load_registry(settings.registry_path)
    chosen = [registry.get(c) for c in cameras] if cameras else list(registry.cameras)
    with Catalog.open(settings.catalog_url) as catalog:
        made = make_source(source, catalog, registry, endpoint=endpoint, contact=contact)
        report = scrape(catalog, made, chosen, limit)
    return {"found": report.found, "added": report.added, "skipped": report.skipped,
            "api_calls": report.api_calls}


@flow(name="scrape", log_prints=True)
def scrape_flow(source: Source = "wikimedia", cameras: list[str] | None = None,
                limit: Positive | None = None, endpoint: str | None = None, contact: str | None = None,
                data_dir: str | None = None, catalog: str | None = None) -> dict[str, object]:
    """Find candidates on a source for the registry's cameras (all of them by default)."""
    settings = _settings(data_dir, catalog)
    result = scrape_task(settings, source, cameras or [], limit, endpoint, _contact(contact))
    print(f"{source}: {result}")
    _publish_stats(settings, "scrape")
    return result


@task(name="download-pending", **NETWORK_RETRIES)
def download_task(settings: Settings, limit: int | None, concurrency: int, contact: str | None,
                  loopback_unlimited: bool, worker: str | None = None,
                  downloaders: int = 1) -> dict[str, object]:
    """One downloader; ``worker`` names it among ``downloaders`` that share the host limits."""
    import math

    from db import Catalog
    from flows.acquire import download
    from flows.workers import claimer_id
    from scrapers.base import user_agent
    from scrapers.download import DownloaderConfig
    from scrapers.fetch import FetchOptions
    from scrapers.limits import DEFAULT_POLICIES, HostPolicy, share_policies

    policies = share_policies(DEFAULT_POLICIES, downloaders)
    if loopback_unlimited:
        policies = (HostPolicy("127.0.0.1*", concurrency, math.inf, concurrency), *policies)
    config = DownloaderConfig(FetchOptions(settings.data_dir), concurrency, policies, user_agent(contact))
    with Catalog.open(settings.catalog_url) as catalog:
        report = download(catalog, config, limit, worker=worker)
    return {"stored": report.stored, "bytes": report.bytes, "failed": report.failed,
            "gave_up": report.gave_up, "skipped": report.skipped, "worker": claimer_id(worker)}


@flow(name="download", log_prints=True)
def download_flow(limit: Positive | None = None, concurrency: Positive = 16, contact: str | None = None,
                  loopback_unlimited: bool = False, data_dir: str | None = None,
                  catalog: str | None = None, cluster: str | None = None,
                  workers: Positive | None = None) -> dict[str, object]:
    """Fetch due candidates into content-addressed storage (resumable; safe to run repeatedly).

    With ``cluster`` (a Dask scheduler address) or ``workers`` > 1, downloaders run as Dask
    tasks (``workers`` of them, else one per thread of the cluster; on a temporary local cluster
    when no address is given), sharing the queue through catalog claims and the host limits.
    """
    settings = _settings(data_dir, catalog)
    if cluster or (workers or 1) > 1:
        from flows.fanout import download_on_dask

        result = download_on_dask(settings, cluster, workers, limit, concurrency, _contact(contact),
                                  loopback_unlimited)
    else:
        result = download_task(settings, limit, concurrency, _contact(contact), loopback_unlimited)
    print(f"download: {result}")
    return result


@flow(name="curate", log_prints=True)
def curate_flow(dataset: str = "default", val_per_class: Positive = 100, seed: int = 0,
                policy: str | None = None, data_dir: str | None = None,
                catalog: str | None = None, cluster: str | None = None,
                workers: Positive | None = None) -> str:
    """Judge downloaded files, then export the dataset manifest ``datasets/<dataset>``.

    With ``cluster`` or ``workers`` > 1, reading headers and hashing accepted files fan out
    over Dask workers; judging and the export run here, once.
    """
    from db import Catalog
    from flows.artifacts import publish_manifest
    from flows.curation import curate, export
    from pipeline.policy import load_policy
    from pipeline.registry_load import load_registry

    settings = _settings(data_dir, catalog)
    registry = load_registry(settings.registry_path)
    chosen = load_policy(policy)
    if cluster or (workers or 1) > 1:
        from flows.fanout import curate_on_dask

        print(f"curate on Dask: {curate_on_dask(settings, cluster, workers, policy)}")
    with Catalog.open(settings.catalog_url) as cat:
        report = curate(cat, settings.data_dir, registry, chosen)  # after a fan-out: what is left
        print(f"curate: {report}")
        exported = export(cat, settings.data_dir, dataset, registry, seed, val_per_class, None)
    _publish_stats(settings, "curate")
    publish_manifest(exported.directory)
    return str(exported.directory)


@flow(name="train", log_prints=True)
def train_flow(manifest_dir: str | None = None, run_name: str = "default", arch: str = "densenet161",
               steps: Positive = 10_000, batch_size: Positive = 16, crop: Positive = 960,
               input_size: Positive = 480, pretrained: bool = True, seed: int = 0,
               data_dir: str | None = None) -> str:
    """Train (or resume) ``runs/<run_name>`` on a dataset manifest with the paper's recipe."""
    from flows.artifacts import publish_run
    from training.config import TrainConfig
    from training.trainer import train

    settings = _settings(data_dir, None)
    manifest = manifest_dir or str(settings.data_dir / "datasets" / "default")
    cfg = TrainConfig(manifest=manifest, run_dir=str(settings.data_dir / "runs" / run_name), steps=steps,
                      arch=arch, batch_size=batch_size, crop=crop, input_size=input_size,
                      pretrained=pretrained, seed=seed, workers=0)
    result = train(cfg, log=print)
    last = result.last
    names = ("train_loss", "train_acc", "val_loss", "val_acc")
    metrics = {k: getattr(last, k) for k in names} if last else {}
    publish_run(result.run_dir, "Training", metrics, sorted(result.run_dir.glob("*.png")))
    return str(result.run_dir)


@flow(name="evaluate", log_prints=True)
def evaluate_flow(run_dir: str | None = None, crop_size: Positive = 512, tta: bool = True,
                  data_dir: str | None = None) -> dict[str, float]:
    """The 2018 challenge protocol and robustness curves on the run's validation split."""
    from flows.artifacts import publish_run
    from training.config import EvalConfig
    from training.evaluate import evaluate

    settings = _settings(data_dir, None)
    path = Path(run_dir) if run_dir else settings.data_dir / "runs" / "default"
    result = evaluate(path, EvalConfig(crop_size=crop_size, tta=tta))
    headline = {"weighted_accuracy": result.weighted_accuracy,
                "accuracy_unaltered": result.accuracy_unaltered,
                "accuracy_altered": result.accuracy_altered}
    publish_run(path, "Evaluation", headline, sorted(path.glob("*.png")))
    return headline


@flow(name="pipeline", log_prints=True)
def pipeline_flow(source: Source = "wikimedia", cameras: list[str] | None = None,
                  limit: Positive | None = None, endpoint: str | None = None,
                  contact: str | None = None, dataset: str = "default", steps: Positive = 10_000,
                  arch: str = "densenet161", data_dir: str | None = None) -> dict[str, float]:
    """scrape -> download -> curate (export) -> train -> evaluate, each as its own sub-flow."""
    scrape_flow(source, cameras, limit, endpoint, contact, data_dir)
    download_flow(None, 16, contact, False, data_dir)
    manifest = curate_flow(dataset, 100, 0, None, data_dir)
    run_dir = train_flow(manifest, dataset, arch, steps, data_dir=data_dir)
    return evaluate_flow(run_dir, data_dir=data_dir)


def _publish_stats(settings: Settings, stage: str) -> None:
    from db import Catalog
    from flows.artifacts import publish_stats

    with Catalog.open(settings.catalog_url) as catalog:
        publish_stats(catalog.stats(), stage)


def deployments() -> list[object]:
    """The deployments ``camid serve`` offers, by the names users run them with."""
    made = [scrape_flow.to_deployment(name=s, parameters={"source": s})
            for s in ("flickr", "wikimedia", "reviews")]
    made += [f.to_deployment(name="default") for f in (download_flow, curate_flow, train_flow,
                                                         evaluate_flow, pipeline_flow)]
    return made


def serve_all() -> None:
    """Serve every deployment from this process until interrupted."""
    serve(*deployments())  # type: ignore[arg-type]
