"""Flickr against a loopback REST server: windows past the result cap, faults, budget, secrets."""

from __future__ import annotations

import json
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
