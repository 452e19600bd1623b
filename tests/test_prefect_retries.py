"""Prefect tasks retry only what can succeed later: user mistakes fail after one attempt, network
trouble is retried. The flows run for real (Prefect 3, ephemeral server) in one subprocess."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from pipeline.errors import CamidError, ConfigError
from scrapers.base import SourceError
from tests.fakes.server import Loopback

PREFECT_ENV = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "NO_ALBUMENTATIONS_UPDATE": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
               "PREFECT_LOGGING_LEVEL": "WARNING"}

# Runs in the subprocess: each case is one flow run; what it prints is the task runs' attempts.
PROBE = r"""
import json, sys, time
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from flows.prefect_flows import scrape_flow
from flows.prefect_tasks import scrape_task
from pipeline.settings import resolve_settings

@flow(name="scrape-no-retry-delay")
def scrape_now(source: str, endpoint: str) -> object:
    task = scrape_task.with_options(retry_delay_seconds=0)
    return task(resolve_settings(), source, [], None, endpoint, "tests@localhost")

def attempts(state) -> list[int]:
    with get_client(sync_client=True) as client:
        ids = FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id]))
        return [run.run_count for run in client.read_task_runs(flow_run_filter=ids)]

@flow(name="warm-up")
def warm_up() -> None:
    "Starts the ephemeral server, so the cases' times are theirs alone."

warm_up()
out = {}
for name, call in (("flickr_without_key", lambda: scrape_flow(source="flickr", return_state=True)),
                   ("dir_without_path", lambda: scrape_flow(source="dir", return_state=True)),
                   ("server_unavailable", lambda: scrape_now("wikimedia", sys.argv[1],
                                                            return_state=True))):
    started = time.monotonic()
    state = call()
    seconds = time.monotonic() - started
    try:
        state.result()
        error = None
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    out[name] = {"failed": state.is_failed(), "error": error, "attempts": attempts(state),
                 "seconds": seconds}
print("PROBE " + json.dumps(out))
"""


def _unavailable(hits: list[str]) -> web.Application:
    """A Commons API that is down: 503 with ``Retry-After: 0`` (so the client's waits are short)."""
    async def handle(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.Response(status=503, headers={"Retry-After": "0"}, text="down for maintenance")

    app = web.Application()
    app.router.add_get("/w/api.php", handle)
    return app


@pytest.fixture(scope="module")
def probed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], list[str]]:
    tmp = tmp_path_factory.mktemp("retries")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CAMID_", "PREFECT_", "FLICKR_")) and "proxy" not in k.lower()}
    env.update(PREFECT_ENV, PREFECT_HOME=str(tmp / "prefect-home"), CAMID_DATA_DIR=str(tmp / "data"))
    hits: list[str] = []
    with Loopback(_unavailable(hits)) as server:
        out = subprocess.run([sys.executable, "-c", PROBE, server.url("/w/api.php")], env=env,
                             cwd=tmp, capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stderr[-3000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("PROBE "))
    return json.loads(line.removeprefix("PROBE ")), hits


@pytest.mark.slow
@pytest.mark.parametrize(("case", "message"), [("flickr_without_key", "FLICKR_API_KEY"),
                                               ("dir_without_path", "--path")])
def test_a_user_mistake_fails_after_one_attempt(probed, case: str, message: str) -> None:
    result = probed[0][case]
    assert result["failed"] and "ConfigError" in result["error"] and message in result["error"]
    assert result["attempts"] == [1]
    # the real retry delays (10 s, then 60 s, then 300 s, each +-50 %) never start
    assert result["seconds"] < 30, result


@pytest.mark.slow
def test_a_server_that_stays_down_is_retried(probed) -> None:
    result, hits = probed[0]["server_unavailable"], probed[1]
    assert result["failed"] and "HTTP 503" in result["error"], result
    assert result["attempts"] == [4]  # the first run and network_task's 3 retries
    assert len(hits) == 4 * 5  # each attempt: one GET and the polite client's own 4 retries


@pytest.mark.parametrize(("error", "expected"), [
    (SourceError("HTTP 503", retryable=True), True),
    (SourceError("flickr: Invalid API Key"), False),
    (ConfigError("set FLICKR_API_KEY"), False),
    (CamidError("unknown camera"), False),
    (ConnectionResetError(104, "reset"), True),
    (TimeoutError(), True),
    (KeyError("a bug"), False),
])
def test_retry_rule(error: Exception, expected: bool) -> None:
    from flows.prefect_tasks import retryable

    assert retryable(error) is expected


def test_retryable_survives_pickling() -> None:
    """Prefect may persist a failed task's exception; the flag must come back with it."""
    again = pickle.loads(pickle.dumps(SourceError("GET failed: HTTP 503", retryable=True)))
    assert again.retryable is True and str(again) == "GET failed: HTTP 503"
    assert pickle.loads(pickle.dumps(SourceError("refused"))).retryable is False


def test_missing_path_and_unreadable_list_are_config_errors(tmp_path: Path) -> None:
    from scrapers.folder import DirSource

    with pytest.raises(ConfigError, match="--path"):
        DirSource()
    with pytest.raises(ConfigError, match="not a directory"):
        list(DirSource(tmp_path / "missing").find([]))
    with pytest.raises(ConfigError, match="cannot read URL list"):
        list(DirSource(url_list=tmp_path / "missing.txt").find([]))


def _answers(status: int, body: object) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response(body, status=status, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_get("/w/api.php", handle)
    return app


@pytest.mark.parametrize(("status", "body", "retryable"), [
    (503, {}, True),  # down: may be back later
    (429, {}, True),  # rate limited
    (404, {}, False),  # a wrong --endpoint: the same answer every time
    (403, {}, False),
    (200, {"error": {"code": "ratelimited", "info": "slow down"}}, True),
    (200, {"error": {"code": "readonly", "info": "maintenance"}}, True),
    (200, {"error": {"code": "badvalue", "info": "no such parameter"}}, False),
])
def test_each_source_error_says_whether_it_may_pass(status: int, body: object, retryable: bool) -> None:
    from pipeline.registry_load import load_registry
    from scrapers.base import user_agent
    from scrapers.http import Etiquette, PoliteClient
    from scrapers.wikimedia import WikimediaSource

    client = PoliteClient(user_agent("tests@localhost"), Etiquette(min_interval=0.0, retries=1))
    with Loopback(_answers(status, body)) as server, pytest.raises(SourceError) as err:
        next(WikimediaSource(client, load_registry(None), endpoint=server.url("/w/api.php"))
             .category_files("Taken with Apple iPhone 6"))
    assert err.value.retryable is retryable, err.value


def test_a_refused_connection_may_pass() -> None:
    from scrapers.http import Etiquette, PoliteClient

    with Loopback(web.Application()) as server:
        url = server.url("/gone")
    client = PoliteClient("camid-tests", Etiquette(min_interval=0.0, retries=0))
    with pytest.raises(SourceError, match="ConnectionError") as err:
        client.get(url)
    assert err.value.retryable
