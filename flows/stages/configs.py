"""One resolver per stage configuration, shared by the three doors (CLI, Prefect flows, demo).

Each door hands over only what its user chose; everything else comes from one place here (a
resumed run's saved ``config.json``, then the records' own defaults), so ``camid train``, the
``train`` flow and ``camid demo`` cannot drift apart in what an unset option means. User mistakes
(a malformed ``--host-limit`` or ``--follow-host``, ``--steps`` with ``--epochs``) fail here as one
``CamidError``, before anything heavy is imported or started.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import CamidError

if TYPE_CHECKING:
    from scrapers.download import DownloaderConfig
    from training.config import EvalConfig, TrainConfig

DEFAULT_EPOCHS = 30
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
# the parts of a training request that are not TrainConfig fields
TRAIN_EXTRAS = frozenset({"epochs", "no_cache"})


def downloader_config(data_dir: Path, *, concurrency: int = 16, host_limits: Sequence[str] = (),
                      contact: str | None = None, timeout: float | None = None,
                      max_bytes: int | None = None, max_attempts: int | None = None,
                      backoff: float | None = None, loopback_unlimited: bool = False,
                      downloaders: int = 1, fsync: bool = True,
                      follow_hosts: Sequence[str] = ()) -> DownloaderConfig:
    """The downloader's settings: the user's host limits over camid's polite defaults.

    ``downloaders`` processes sharing one set of host limits each get their share of them;
    ``loopback_unlimited`` lifts the limits for 127.0.0.1 (test and demo servers only);
    ``follow_hosts`` are more hosts redirects may lead to (``--follow-host``).
    """
    from scrapers.base import user_agent
    from scrapers.download import DownloaderConfig
    from scrapers.fetch import FetchOptions
    from scrapers.hosts import HostRules
    from scrapers.limits import DEFAULT_POLICIES, HostPolicy, parse_host_limit, share_policies

    try:
        policies = tuple(parse_host_limit(h) for h in host_limits) + DEFAULT_POLICIES
    except ValueError as exc:
        raise CamidError(f"--host-limit: {exc}") from None
    policies = share_policies(policies, downloaders)
    if loopback_unlimited:
        policies = (HostPolicy("127.0.0.1*", concurrency, math.inf, concurrency), *policies)
    chosen: dict[str, Any] = {"max_bytes": max_bytes, "read_timeout": timeout, "max_attempts": max_attempts,
              "backoff_base": backoff}
    fetch = FetchOptions(data_dir, fsync=fsync, **{k: v for k, v in chosen.items() if v is not None})
    hosts = HostRules(follow=tuple(_host_pattern(h) for h in follow_hosts),
                      contact=bool((contact or "").strip()))
    return DownloaderConfig(fetch, concurrency, policies, user_agent(contact), hosts=hosts)


def _host_pattern(text: str) -> str:
    """A ``--follow-host`` glob: a host or ``host:port``, not a URL (which would match nothing)."""
    pattern = text.strip().lower()
    if not pattern or "/" in pattern or "=" in pattern:
        raise CamidError(f"--follow-host {text!r}: give a host or host:port glob, "
                         "e.g. images.example.org or 127.0.0.1:8080")
    return pattern


def train_config(manifest_dir: Path, data_dir: Path, given: Mapping[str, Any]) -> TrainConfig:
    """What the user gave, over the run's saved config (when resuming), over the defaults.

    ``given`` holds ``TrainConfig`` fields and the extras ``epochs`` (the step count for that
    many passes over the training split) and ``no_cache``. The run directory defaults to
    ``<data_dir>/runs/<dataset>-<arch>-s<seed>``, the pixel cache to ``<data_dir>/cache/pixels``.
    """
    from pipeline.manifest import read_manifest
    from training.config import TrainConfig, load_train_config

    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(given) - names - TRAIN_EXTRAS)
    if unknown:
        raise CamidError(f"unknown training settings: {', '.join(unknown)}")
    if given.get("steps") is not None and given.get("epochs") is not None:
        raise CamidError("give --steps or --epochs, not both")
    manifest = read_manifest(manifest_dir)
    chosen = {k: v for k, v in given.items() if k in names and v is not None}
    arch, seed = chosen.get("arch", "densenet161"), chosen.get("seed", 0)
    run_dir = Path(chosen.get("run_dir") or data_dir / "runs" / f"{manifest.name}-{arch}-s{seed}").resolve()
    saved = asdict(load_train_config(run_dir)) if (run_dir / "config.json").exists() else {}
    values: dict[str, Any] = {**{"workers": DEFAULT_WORKERS}, **saved, **chosen}
    if "steps" not in chosen and (given.get("epochs") is not None or "steps" not in saved):
        values["steps"] = _steps_for(len(manifest.train), given.get("epochs"), values)
    if given.get("no_cache"):
        values["cache_dir"] = None
    elif "cache_dir" not in chosen and not saved:
        values["cache_dir"] = str(data_dir / "cache" / "pixels")
    if values.get("cache_dir"):
        values["cache_dir"] = str(Path(values["cache_dir"]).resolve())
    values.update(manifest=str(manifest_dir.resolve()), run_dir=str(run_dir))
    for name, kind in (("gamma_range", float), ("jpeg_quality", int)):
        if name in values:
            values[name] = _pair(values[name], kind, "--" + name.replace("_", "-"))
    if isinstance(values.get("ops"), str):  # "jpeg_70,resize_0.5"; "none" or "" for no operations
        values["ops"] = tuple(v.strip() for v in values["ops"].split(",") if v.strip() not in ("", "none"))
    elif "ops" in values:
        values["ops"] = tuple(values["ops"])
    return TrainConfig(**values)


def _steps_for(n_train: int, epochs: float | None, values: Mapping[str, Any]) -> int:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    per_step = values.get("batch_size", 16) * values.get("accumulate", 1) * world
    return max(1, math.ceil((DEFAULT_EPOCHS if epochs is None else epochs) * max(1, n_train) / per_step))


def numbers(text: str, option: str) -> tuple[float, ...]:
    """A comma-separated list of numbers, as the CLI and flow parameters give them."""
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise CamidError(f"{option}: {text!r} is not a comma-separated list of numbers") from None


def _pair(value: str | Sequence[Any], kind: type, option: str) -> tuple[Any, Any]:
    """LOW,HIGH from the command line (or a saved list) as a typed pair."""
    items = numbers(value, option) if isinstance(value, str) else tuple(value)
    if len(items) != 2:
        raise CamidError(f"{option} {value!r}: give LOW,HIGH")
    return kind(items[0]), kind(items[1])


def eval_config(given: Mapping[str, Any]) -> EvalConfig:
    """The evaluation's settings: lists may come as "a,b,c" text; unset ones take the defaults."""
    from training.config import EvalConfig

    names = {f.name for f in fields(EvalConfig)}
    unknown = sorted(set(given) - names)
    if unknown:
        raise CamidError(f"unknown evaluation settings: {', '.join(unknown)}")
    values = {k: v for k, v in given.items() if v is not None}
    for name, kind in (("jpeg_qualities", int), ("gammas", float), ("resize_factors", float),
                       ("crop_sizes", int), ("grid_phases", int)):
        if isinstance(values.get(name), str):
            values[name] = tuple(kind(v) for v in numbers(values[name], "--" + name.replace("_", "-")))
    cfg = EvalConfig(**values)
    if min(cfg.resize_factors, default=1) <= 0 or cfg.crop_size < 1 or min(cfg.crop_sizes, default=1) < 1:
        raise CamidError("resize factors and crop sizes must be positive")
    return cfg
