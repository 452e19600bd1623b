"""Download and curate fanned out over a Dask cluster of 2 worker processes (prefect-dask): the
work is shared, done once, and the dataset comes out whole."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from db import Catalog
from flows.demo.server import CommonsFake
from flows.demo.world import build_world, registry_toml
from tests.test_flows import _env

SCRIPT = """
import json, os, sys
from contextlib import nullcontext
from distributed import LocalCluster
from flows.prefect_flows import curate_flow, download_flow, scrape_flow

if __name__ == "__main__":
    endpoint, catalog, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    # "cluster": an existing scheduler's address; "local": workers=2, a cluster of the flow's own
    cluster = (LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                            dashboard_address=None) if mode == "cluster" else nullcontext())
    with cluster:
        fan = ({"cluster": cluster.scheduler_address} if mode == "cluster" else {"workers": 2})
        scrape_flow(source="wikimedia", endpoint=endpoint, catalog=catalog)
        done = download_flow(concurrency=4, loopback_unlimited=True, catalog=catalog, **fan)
        print("DOWNLOAD " + json.dumps(done), flush=True)
        print("MANIFEST " + curate_flow(val_per_class=1, catalog=catalog, **fan))
        print("DRIVER " + str(os.getpid()))
"""


def _line(stdout: str, tag: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith(tag + " "))[len(tag) + 1:]


@pytest.mark.slow
@pytest.mark.timeout(600)  # the flow script's own limit is 500 s
@pytest.mark.parametrize(("backend", "mode"), [("postgresql", "cluster"), ("sqlite", "local")])
def test_download_and_curate_fan_out_over_a_dask_cluster(tmp_path: Path, backend: str, mode: str,
                                                        request: pytest.FixtureRequest) -> None:
    """PostgreSQL with a scheduler address (as for workers on other machines), and SQLite with
    ``workers=2`` and no address (a temporary local cluster: one machine's cores)."""
    url = (request.getfixturevalue("postgres_url") if backend == "postgresql"
           else f"sqlite:///{tmp_path / 'data' / 'catalog.db'}")
    (tmp_path / "registry.toml").write_text(registry_toml())
    script = tmp_path / "run_on_dask.py"
    script.write_text(SCRIPT)
    with CommonsFake(build_world(3)) as server:
        out = subprocess.run([sys.executable, str(script), server.endpoint, url, mode],
                             env={**_env(tmp_path), "PREFECT_LOGGING_LEVEL": "INFO"},
                             capture_output=True, text=True, timeout=500,
                             cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]

    download = json.loads(_line(out.stdout, "DOWNLOAD"))
    driver = _line(out.stdout, "DRIVER")
    pids = {who.partition("#")[0].rpartition(":")[2] for who in download["workers"]}
    assert len(download["workers"]) == 2 and len(pids) == 2, "two downloaders, in two processes"
    assert driver not in pids, "the downloads ran on the Dask workers, not in the flow's process"
    with Catalog.open(url) as catalog, catalog.engine.connect() as conn:
        count = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        stored = count("SELECT count(*) FROM images")
        assert stored >= 18 and download["stored"] == count(
            "SELECT count(*) FROM candidates WHERE image_id IS NOT NULL"), "each file fetched once"
        assert count("SELECT count(*) FROM candidates WHERE status = 'pending' OR "
                     "(status = 'failed' AND next_attempt_at IS NOT NULL)") == 0, "nothing left due"
        assert count("SELECT count(*) FROM candidates WHERE claimed_by IS NOT NULL") == 0
        assert count("SELECT count(*) FROM images WHERE reader_version IS NULL "
                     "OR claimed_by IS NOT NULL") == 0, "every header read, no lease left"
        assert count("SELECT count(*) FROM verdicts") == stored
        assert count("SELECT count(*) FROM images i JOIN verdicts v ON v.image_id = i.id "
                     "WHERE v.accepted AND i.phash IS NULL") == 0
    fanned = next(line for line in (out.stdout + out.stderr).splitlines() if "curate on Dask:" in line)
    assert f"'read': {stored}" in fanned and fanned.count("dask") == 2, fanned
    manifest = json.loads((Path(_line(out.stdout, "MANIFEST")) / "manifest.json").read_text())
    assert sum(manifest["counts"]["train"].values()) + sum(manifest["counts"]["val"].values()) > 0
