"""The small pieces of scale-out: settings sent to workers, shared host limits, dead claimers."""

from __future__ import annotations

import math
import os
import socket
from pathlib import Path

import pytest

from flows.stages.workers import claimer_id, dead_local_claimers
from pipeline.settings import Settings, for_workers
from scrapers.limits import HostPolicy, share_policies

DEAD_PID = 2**22 + 7  # above the largest pid_max Linux allows: never a live process


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///camid-data/catalog.db", "sqlite:///{cwd}/camid-data/catalog.db"),
        ("sqlite:////abs/catalog.db", "sqlite:////abs/catalog.db"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://camid@db/camid", "postgresql+psycopg://camid@db/camid"),
    ],
)
def test_settings_for_workers_have_absolute_paths(url: str, expected: str, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    shared = for_workers(Settings(Path("camid-data"), url, None))
    assert shared.data_dir == tmp_path / "camid-data"
    assert shared.catalog_url == expected.format(cwd=tmp_path)


@pytest.mark.parametrize(
    ("policy", "downloaders", "expected"),
    [
        (HostPolicy("a", 4, 10.0, 4), 1, HostPolicy("a", 4, 10.0, 4)),
        (HostPolicy("a", 4, 10.0, 4), 2, HostPolicy("a", 2, 5.0, 2)),
        (HostPolicy("a", 2, 5.0, 2), 4, HostPolicy("a", 1, 1.25, 1)),  # never below one request
        (HostPolicy("a", 8, math.inf, 1), 4, HostPolicy("a", 2, math.inf, 1)),
    ],
)
def test_downloaders_share_each_host_limit(policy: HostPolicy, downloaders: int,
                                           expected: HostPolicy) -> None:
    assert share_policies([policy], downloaders) == (expected,)


def test_only_dead_processes_of_this_host_lose_their_claims() -> None:
    host = socket.gethostname()
    claimers = [claimer_id(), claimer_id("dask1"), f"{host}:{DEAD_PID}", f"{host}:{DEAD_PID}#dask0",
                f"other-host:{DEAD_PID}", "not-a-claimer-id", f"{host}:{os.getppid()}"]
    assert dead_local_claimers(claimers) == [f"{host}:{DEAD_PID}", f"{host}:{DEAD_PID}#dask0"]
