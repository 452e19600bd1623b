"""Flickr against a loopback REST server: windows past the result cap, faults, budget, secrets."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from db import Catalog
from flows.stages.acquire import download, scrape
from pipeline.errors import ConfigError
from pipeline.records import CandidateKey, CandidateStatus, Verdict
from pipeline.registry_load import load_registry
from pipeline.summary import stats_to_json
from scrapers.base import SourceError
from scrapers.download import DownloaderConfig
from scrapers.fetch import FetchOptions
from scrapers.flickr import FlickrOptions, FlickrSource
from scrapers.flickr_api import CallBudget, FlickrCaller, FlickrCredentials
from scrapers.limits import HostPolicy
from tests.fakes.cli import camid
from tests.fakes.flickr import FakeFlickr, Photo
from tests.fakes.images import camera_jpeg
from tests.fakes.server import Loopback

KEY, SECRET = "KEY-0f1e2d3c4b5a-DO-NOT-LEAK", "SECRET-9a8b7c6d5e4f-DO-NOT-LEAK"
REGISTRY = load_registry(None)
T0 = 1_400_000_000


def photos(n: int, **kw: object) -> list[Photo]:
    return [Photo(id=str(1000 + i), upload=T0 + 3600 * i, jpeg=camera_jpeg(i), **kw)  # type: ignore[arg-type]
            for i in range(n)]


def caller(server: Loopback, key: str = KEY, budget: int = 3600) -> FlickrCaller:
    return FlickrCaller(FlickrCredentials(key, SECRET), CallBudget(budget),
                        endpoint=server.url("/services/rest/"), backoff_base=0.0,
                        sleep=lambda s: None)


def test_upload_windows_reach_past_the_result_cap(catalog_url: str) -> None:
    fake = FakeFlickr(photos(57), KEY, cap=20)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        options = FlickrOptions(per_page=5, window_max=10, end=None)
        source = FlickrSource(caller(server), options)
        cameras = [REGISTRY.get("iPhone-6")]
        report = scrape(catalog, source, cameras)
        assert report.added == 57 and catalog.candidate_count() == 57
        assert report.api_calls == fake.calls  # every request counted, windows included
        assert len(fake.windows) > 6
        # a single query without windows sees the cap: only its first results, then repeats
        single = FlickrSource(caller(server), FlickrOptions(per_page=5, window_max=10_000))
        assert len(list(single.search({"text": "iphone 6"}))) == 20


def test_non_native_originals_are_skipped_before_download(catalog_url: str) -> None:
    items = [*photos(3), Photo("2001", T0, camera_jpeg(50), width=1600, height=1200),
             Photo("2002", T0, camera_jpeg(51), fmt="png"),
             Photo("2003", T0, camera_jpeg(52), downloadable=False),
             Photo("2004", T0, camera_jpeg(53), license="0")]
    fake = FakeFlickr(items, KEY)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        source = FlickrSource(caller(server), FlickrOptions(licences=("4", "9")))
        report = scrape(catalog, source, [REGISTRY.get("iPhone-6")])
        assert report.added == 3 and report.skipped == {"non_native_size": 1, "not_jpeg": 1}
        assert source.no_original == 1
        assert catalog.candidate_status(CandidateKey("flickr", "2001")) is CandidateStatus.SKIPPED
        assert catalog.get_candidate(CandidateKey("flickr", "2004")) is None  # licence filtered


def test_o_dims_judge_originals_without_url_o(catalog_url: str) -> None:
    items = [Photo("3001", T0, camera_jpeg(54), url_o=False),
             Photo("3002", T0, camera_jpeg(55), width=1600, height=1200, url_o=False)]
    fake = FakeFlickr(items, KEY)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        report = scrape(catalog, FlickrSource(caller(server)), [REGISTRY.get("iPhone-6")])
        assert report.added == 1 and report.skipped == {"non_native_size": 1}
        assert catalog.candidate_status(CandidateKey("flickr", "3002")) is CandidateStatus.SKIPPED
        kept = catalog.get_candidate(CandidateKey("flickr", "3001"))
    assert kept is not None and (kept.width, kept.height) == (3264, 2448)
    assert kept.url == "https://live.staticflickr.com/65535/3001_def_o.jpg"  # from originalsecret


def test_transient_failures_are_retried_and_counted(catalog_url: str) -> None:
    fake = FakeFlickr(photos(4), KEY, fail_next=[(105, "Service currently unavailable"),
                                                 (503, "busy")])
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        report = scrape(catalog, FlickrSource(caller(server)), [REGISTRY.get("iPhone-6")])
        assert report.added == 4 and report.api_calls == fake.calls == 2 + 2  # text + tag query


def test_stat_fail_is_one_line_without_the_key(catalog_url: str) -> None:
    fake = FakeFlickr(photos(2), KEY)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        wrong = "WRONG-KEY-7d7d7d"
        with pytest.raises(SourceError) as err:
            scrape(catalog, FlickrSource(caller(server, key=wrong)), [REGISTRY.get("iPhone-6")])
        assert "Invalid API Key" in str(err.value) and wrong not in str(err.value)
        assert fake.calls == 1  # code 100 is not retried
        assert not err.value.retryable  # nor by a Prefect task: only a new key helps


def test_an_echoed_request_reaches_no_log_or_error(capsys: pytest.CaptureFixture[str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # as if the application logged everything
    fake = FakeFlickr(photos(1), KEY, echo_status=500)
    with Loopback(fake.app()) as server, pytest.raises(SourceError) as err:
        caller(server).call("flickr.photos.search", text="iphone 6")
    assert fake.calls == 4 and err.value.retryable  # a 5xx is retried, then may pass later
    assert "Status code 500" in str(err.value)
    seen = str(err.value) + caplog.text + "".join(capsys.readouterr())
    assert KEY not in seen and SECRET not in seen


@pytest.mark.parametrize("body", ['[1, 2]', '{"stat": "fail"}', '{"stat": "fail", "code": 1}'])
def test_an_answer_flickrapi_cannot_read_is_a_source_error(body: str) -> None:
    from aiohttp import web

    async def odd(request: web.Request) -> web.Response:
        return web.Response(text=body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/services/rest/", odd)
    with Loopback(app) as server, pytest.raises(SourceError, match="unreadable answer"):
        caller(server).call("flickr.photos.search", text="x")


def test_secrets_are_redacted_in_every_encoded_form() -> None:
    odd = FlickrCredentials("key+with/odd=chars", SECRET)
    fake = FakeFlickr(photos(1), KEY)  # a wrong key: the answer echoes it, form-encoded too
    with Loopback(fake.app()) as server, pytest.raises(SourceError) as err:
        FlickrCaller(odd, CallBudget(10), endpoint=server.url("/services/rest/"),
                     sleep=lambda s: None).call("flickr.photos.search", text="x")
    assert "Invalid API Key" in str(err.value)
    for form in ("key+with/odd=chars", "key%2Bwith%2Fodd%3Dchars"):
        assert form not in str(err.value)


def test_a_missing_key_or_budget_is_the_users_to_fix() -> None:
    with pytest.raises(ConfigError, match="FLICKR_API_KEY") as err:
        FlickrCredentials.from_env({"FLICKR_API_KEY": "k", "FLICKR_API_SECRET": " "})
    assert not isinstance(err.value, SourceError)  # which a Prefect task would judge for retries
    with pytest.raises(ConfigError, match="at least 1 call"):
        CallBudget(0)


@pytest.mark.slow  # four camid processes
def test_cli_scrape_download_stats_and_no_secret_anywhere(tmp_path: Path) -> None:
    fake = FakeFlickr([*photos(4), Photo("2001", T0, camera_jpeg(60), width=640, height=480)], KEY)
    env = {"FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET}
    with Loopback(fake.app()) as server:
        fake.base = server.base
        endpoint = server.url("/services/rest/")
        outs = [camid("scrape", "flickr", "--camera", "iPhone-6", "--endpoint", endpoint,
                      cwd=tmp_path, env=env),
                camid("download", "--host-limit", f"{server.host}=4:inf", cwd=tmp_path, env=env),
                camid("scrape", "flickr", "--camera", "iPhone-6", "--endpoint", endpoint,
                      cwd=tmp_path, env={"FLICKR_API_KEY": KEY + "x", "FLICKR_API_SECRET": SECRET}),
                camid("scrape", "flickr", cwd=tmp_path)]
    scraped, fetched, bad_key, no_key = outs
    assert scraped.returncode == 0, scraped.stderr
    assert "4 new candidate(s)" in scraped.stdout and "non_native_size 1" in scraped.stdout
    assert fetched.returncode == 0 and "stored 4 file(s)" in fetched.stdout, fetched.stdout + fetched.stderr
    assert bad_key.returncode == 1 and "Invalid API Key" in bad_key.stderr
    assert len(bad_key.stderr.strip().splitlines()) == 1 and "Traceback" not in bad_key.stderr
    assert no_key.returncode == 1 and "FLICKR_API_KEY" in no_key.stderr
    for out in outs:
        for secret in (KEY, SECRET):
            assert secret not in out.stdout + out.stderr
    for path in (tmp_path / "data").glob("catalog.db*"):
        blob = path.read_bytes()
        assert KEY.encode() not in blob and SECRET.encode() not in blob
    _accept_two_and_check_stats(tmp_path, fake.calls)


@pytest.mark.parametrize("status", [403, 404])
def test_cli_keeps_the_key_out_of_every_output_when_the_server_echoes_it(tmp_path: Path,
                                                                         status: int) -> None:
    fake = FakeFlickr(photos(2), KEY, echo_status=status)
    env = {"FLICKR_API_KEY": KEY, "FLICKR_API_SECRET": SECRET}
    with Loopback(fake.app()) as server:
        out = camid("scrape", "flickr", "--camera", "iPhone-6", "--endpoint",
                    server.url(f"/services/rest/?api_key={KEY}"), cwd=tmp_path, env=env)
    assert out.returncode == 1 and fake.calls == 1  # a 4xx is the request's fault: not retried
    assert out.stderr.splitlines() == [f"camid: error: flickr flickr.photos.search failed: "
                                       f"do_request: Status code {status} received"]
    catalog = tmp_path / "data" / "catalog.db"
    with sqlite3.connect(catalog) as conn:
        recorded = [e for (e,) in conn.execute("SELECT error FROM scrape_runs")]
    assert recorded == [f"flickr flickr.photos.search failed: do_request: Status code {status} "
                        "received"]
    for secret in (KEY, SECRET):
        assert secret not in out.stdout + out.stderr
        for path in catalog.parent.glob("catalog.db*"):
            assert secret.encode() not in path.read_bytes()


def _accept_two_and_check_stats(tmp_path: Path, calls: int) -> None:
    with Catalog.open(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}") as catalog, \
            catalog.engine.connect() as conn:
        shas = [r[0] for r in conn.exec_driver_sql("SELECT sha256 FROM images ORDER BY sha256 LIMIT 2")]
        for sha in shas:
            catalog.record_verdict(sha, Verdict(True, "iPhone-6", (), "p", "r"))
        doc = stats_to_json(catalog.stats())
    flickr = doc["api_calls"]["flickr"]
    assert flickr["api_calls"] == calls == 3  # 2 of the good run, 1 of the refused key
    assert flickr["accepted"] == 2
    assert flickr["api_calls_per_accepted"] == pytest.approx(flickr["api_calls"] / 2)
    out = camid("stats", "--json", cwd=tmp_path)
    assert json.loads(out.stdout)["api_calls"]["flickr"]["api_calls_per_accepted"] is not None
    table = camid("stats", cwd=tmp_path)
    assert "calls per accepted image" in table.stdout


def test_downloader_fetches_flickr_originals(tmp_path: Path, catalog_url: str) -> None:
    fake = FakeFlickr(photos(3), KEY)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        scrape(catalog, FlickrSource(caller(server)), [REGISTRY.get("iPhone-6")])
        cfg = DownloaderConfig(FetchOptions(tmp_path, fsync=False), 4,
                               (HostPolicy(server.host, 2, float("inf")),))
        assert download(catalog, cfg).stored == 3
