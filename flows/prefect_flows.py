"""Prefect flows and deployments: scrape, download, curate, train, evaluate, and end-to-end.

A thin door, like the CLI and the demo, over the same stage drivers and resolvers
(``flows.stages``); the network tasks and their retry rule are in ``flows.prefect_tasks``.
Parameters are typed (Literal, constrained ints), so a deployment run with bad input is refused
by the Prefect server before anything runs. Per-request politeness stays in the scrapers' own
limiters. Where the data lives comes from the serving process's settings (``CAMID_DATA_DIR``,
``CAMID_CATALOG``, ``CAMID_REGISTRY``) or from the optional ``data_dir``/``catalog`` parameters,
so workers on other machines see the same catalog and storage.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from prefect import flow, serve
from pydantic import Field

from flows.prefect_tasks import Source, download_task, scrape_task
from pipeline.settings import Settings, resolve_settings

Positive = Annotated[int, Field(ge=1)]


def _settings(data_dir: str | None, catalog: str | None) -> Settings:
    return resolve_settings(data_dir=data_dir, catalog=catalog)


def _contact(contact: str | None) -> str | None:
    """The User-Agent contact: the parameter, else the serving process's ``CAMID_CONTACT``."""
    return contact or os.environ.get("CAMID_CONTACT") or None


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
        from flows.dask_fanout import download_on_dask

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
    """Judge downloaded files, then export the dataset manifest ``datasets/<dataset>`` and write
    its dataset card (``report.html``), which the dataset artifact links to.

    With ``cluster`` or ``workers`` > 1, reading headers and hashing accepted files fan out
    over Dask workers; judging and the export run here, once.
    """
    from db import Catalog
    from flows.artifacts import publish_manifest
    from flows.stages.curate import curate, export
    from flows.stages.report import write_dataset_card
    from pipeline.policy import load_policy
    from pipeline.registry_load import load_registry

    settings = _settings(data_dir, catalog)
    registry = load_registry(settings.registry_path)
    chosen = load_policy(policy)
    if cluster or (workers or 1) > 1:
        from flows.dask_fanout import curate_on_dask

        print(f"curate on Dask: {curate_on_dask(settings, cluster, workers, policy)}")
    with Catalog.open(settings.catalog_url) as cat:
        report = curate(cat, settings.data_dir, registry, chosen)  # after a fan-out: what is left
        print(f"curate: {report}")
        # a scheduled curate refreshes its own dataset: replacing one camid made is its job
        exported = export(cat, settings.data_dir, dataset, registry, seed, val_per_class, None,
                          replace=True)
        card = write_dataset_card(cat, settings.data_dir, registry, dataset)  # the dataset card
        print(f"dataset card: {card.path} ({card.thumbnails} thumbnails, {card.bytes / 1e6:.2f} MB)")
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
    from flows.stages.configs import train_config
    from training.trainer import train

    settings = _settings(data_dir, None)
    manifest = Path(manifest_dir) if manifest_dir else settings.data_dir / "datasets" / "default"
    cfg = train_config(manifest, settings.data_dir, {
        "run_dir": str(settings.data_dir / "runs" / run_name), "steps": steps, "arch": arch,
        "batch_size": batch_size, "crop": crop, "input_size": input_size, "pretrained": pretrained,
        "seed": seed, "workers": 0})
    result = train(cfg, log=print)
    last = result.last
    names = ("train_loss", "train_acc", "val_loss", "val_acc", "val_score")
    metrics = {k: getattr(last, k) for k in names} if last else {}
    publish_run(result.run_dir, "Training", metrics, sorted(result.run_dir.glob("*.png")))
    return str(result.run_dir)


@flow(name="evaluate", log_prints=True)
def evaluate_flow(run_dir: str | None = None, crop_size: Positive = 512, tta: bool = True,
                  data_dir: str | None = None) -> dict[str, float]:
    """The 2018 challenge protocol and robustness curves on the run's test split (unseen devices)."""
    from flows.artifacts import publish_run
    from flows.stages.configs import eval_config
    from training.evaluate import evaluate

    settings = _settings(data_dir, None)
    path = Path(run_dir) if run_dir else settings.data_dir / "runs" / "default"
    result = evaluate(path, eval_config({"crop_size": crop_size, "tta": tta}))
    low, high = result.ci95.get("weighted_accuracy", [float("nan")] * 2)
    headline = {"weighted_accuracy": result.weighted_accuracy,
                "weighted_accuracy_ci95_low": low, "weighted_accuracy_ci95_high": high,
                "accuracy_unaltered": result.accuracy_unaltered,
                "accuracy_altered": result.accuracy_altered}
    if result.baseline:
        headline["baseline_weighted_accuracy"] = result.baseline["weighted_accuracy"]
    if result.forensic:  # whole images: calibration and unknown-camera detection
        headline.update({k: result.forensic[k] for k in ("ece_before", "ece_after", "open_set_auroc",
                                                         "false_alarm_measured")
                         if result.forensic.get(k) is not None})
    publish_run(path, "Evaluation", headline, sorted(path.glob("*.png")))
    return headline


@flow(name="end-to-end", log_prints=True)
def end_to_end_flow(source: Source = "wikimedia", cameras: list[str] | None = None,
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
    made: list[object] = [scrape_flow.to_deployment(name=s, parameters={"source": s})
            for s in ("flickr", "wikimedia", "reviews")]
    made += [f.to_deployment(name="default") for f in (download_flow, curate_flow, train_flow,
                                                         evaluate_flow, end_to_end_flow)]
    return made


def serve_all() -> None:
    """Serve every deployment from this process until interrupted."""
    serve(*deployments())  # type: ignore[arg-type]  # to_deployment's declared union includes a coroutine; sync here
