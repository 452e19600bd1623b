"""Prefect flows: in ephemeral mode (no server), and as deployments served by `camid serve` and run
with `prefect deployment run` against a real Prefect server on loopback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from db import Catalog
from flows.demo.server import CommonsFake
from flows.demo.world import build_world, registry_toml

BIN = Path(sys.executable).parent
PREFECT_ENV = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "NO_ALBUMENTATIONS_UPDATE": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}


@pytest.fixture
def world_dir(tmp_path: Path):
    """A data dir, the demo registry and a loopback Commons server with a small world."""
    (tmp_path / "registry.toml").write_text(registry_toml())
    with CommonsFake(build_world(3)) as server:
        yield tmp_path, server


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CAMID_", "PREFECT_"))}
    env.update(PREFECT_ENV, PREFECT_HOME=str(tmp_path / "prefect-home"),
               CAMID_DATA_DIR=str(tmp_path / "data"), CAMID_REGISTRY=str(tmp_path / "registry.toml"),
               CAMID_CONTACT="tests@localhost")
    return env


def _candidates(tmp_path: Path) -> int:
    with Catalog.open(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}") as catalog:
        return catalog.candidate_count()


@pytest.mark.slow
@pytest.mark.timeout(480)  # the flow process's own limit is 400 s
def test_flows_run_in_ephemeral_mode(world_dir) -> None:
    tmp_path, server = world_dir
    code = (
        "from flows.prefect_flows import scrape_flow, download_flow\n"
        f"r = scrape_flow(source='wikimedia', endpoint={server.endpoint!r})\n"
        "assert r['added'] >= 18, r\n"
        "d = download_flow(concurrency=4, loopback_unlimited=True)\n"
        "print('STORED', d['stored'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True,
                         text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "STORED" in out.stdout
    assert _candidates(tmp_path) >= 18


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("prefect server exited early")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("prefect server did not become healthy")


@pytest.mark.slow
@pytest.mark.timeout(900)  # its own limits: 180 s for the server, then 120 s and 300 s for two runs
def test_deployment_run_against_a_server(world_dir) -> None:
    tmp_path, server = world_dir
    port = _free_port()
    env = _env(tmp_path)
    api = f"http://127.0.0.1:{port}/api"
    logs = tmp_path / "logs"
    logs.mkdir()
    prefect_server = subprocess.Popen(
        [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=(logs / "server.log").open("w"), stderr=subprocess.STDOUT)
    serving = None
    try:
        _wait_healthy(api, prefect_server, 180)
        env["PREFECT_API_URL"] = api
        serving = subprocess.Popen([str(BIN / "camid"), "serve"], env=env,
                                   stdout=(logs / "serve.log").open("w"),
                                   stderr=subprocess.STDOUT)
        bad = _deployment_run(env, "scrape/wikimedia", "limit=0", timeout=120, watch=False)
        assert bad.returncode != 0  # typed parameters: refused before anything runs
        assert "limit" in (bad.stdout + bad.stderr).lower()
        assert not (tmp_path / "data" / "catalog.db").exists() or _candidates(tmp_path) == 0
        ok = _deployment_run(env, "scrape/wikimedia", f"endpoint={server.endpoint}", timeout=300)
        served = (logs / "serve.log").read_text()[-3000:]
        assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:] + served
        assert _candidates(tmp_path) >= 18
    finally:
        for proc in (serving, prefect_server):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def _deployment_run(env: dict[str, str], name: str, param: str, timeout: float,
                    watch: bool = True) -> subprocess.CompletedProcess:
    """`prefect deployment run`, retried while `camid serve` has not registered the deployment."""
    args = [str(BIN / "prefect"), "deployment", "run", name, "-p", param]
    if watch:
        args.append("--watch")
    deadline = time.monotonic() + 120
    while True:
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
        if "not found" not in (out.stdout + out.stderr).lower() or time.monotonic() > deadline:
            return out
        time.sleep(2)
