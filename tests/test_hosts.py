"""Where the downloader may go, and how politely: redirects, API answers, byte rates, contacts.

Against real loopback servers: a redirect is followed only to a host the source allows (and
then under that host's limits), a non-HTTP redirect fails for good, an API answer naming a file
off the source's hosts is skipped before any request, a host's byte rate holds across its
connections, and a run with Wikimedia URLs due and no contact stops before fetching.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from yarl import URL

from db import Catalog
from flows.stages.acquire import download, scrape
from flows.stages.configs import downloader_config
from flows.stages.sources import make_source
from pipeline.errors import CamidError, ConfigError
from pipeline.records import Candidate, CandidateKey, CandidateStatus
from pipeline.registry_load import load_registry
from scrapers.download import DownloaderConfig
from scrapers.fetch import FetchOptions
from scrapers.flickr import FlickrSource
from scrapers.flickr_api import CallBudget, FlickrCaller, FlickrCredentials
from scrapers.hosts import CONTACT_MISSING, DEFAULT_RULES, FLICKR_HOSTS, HostRules, HostScreen, SourceHosts
from scrapers.limits import DEFAULT_POLICIES, HostPolicy, parse_host_limit, policy_for, share_policies
from tests.fakes.cli import camid
from tests.fakes.commons import CommonsFile, FakeCommons
from tests.fakes.files import FileHost
from tests.fakes.flickr import FakeFlickr, Photo
from tests.fakes.images import camera_jpeg
from tests.fakes.redirects import Redirector
from tests.fakes.server import Loopback

REGISTRY = load_registry(None)
INF = math.inf
FLICKR_O = "https://live.staticflickr.com/65535/1_abc_o.jpg"


def config(data_dir: Path, *policies: HostPolicy, hosts: HostRules = DEFAULT_RULES,
           **fetch: Any) -> DownloaderConfig:
    options = {"read_timeout": 2.0, "max_attempts": 3, "backoff_base": 600.0, "fsync": False, **fetch}
    return DownloaderConfig(FetchOptions(data_dir, **options), 8, policies, hosts=hosts)


def rows(catalog: Catalog) -> dict[str, tuple]:
    """source_id → (status, last_error, attempts, next_attempt_at)."""
    with catalog.engine.connect() as conn:
        result = conn.exec_driver_sql(
            "SELECT source_id, status, last_error, attempts, next_attempt_at FROM candidates")
        return {r[0]: tuple(r[1:]) for r in result}


def loose(*servers: Loopback) -> tuple[HostPolicy, ...]:
    return tuple(HostPolicy(s.host, 8, INF, 8) for s in servers)


# ---- redirects -------------------------------------------------------------------------------


def test_redirects_leave_the_urls_host_only_where_allowed(tmp_path: Path, catalog_url: str) -> None:
    images = FileHost({"x": camera_jpeg(1)})
    with Loopback(images.app()) as other:
        hop = Redirector({"off": other.url("/img/x"), "passwd": "file:///etc/passwd",
                          "data": "data:image/jpeg;base64,/9j/2wBDAP8=", "ftp": "ftp://127.0.0.1/x.jpg",
                          "same": "/img/same"}, files={"same": camera_jpeg(2)})
        with Loopback(hop.app()) as server, Catalog.open(catalog_url) as catalog:
            catalog.add_candidates([Candidate("dir", n, server.url(f"/r/{n}")) for n in hop.locations])
            report = download(catalog, config(tmp_path, *loose(server, other)), horizon=0.0)
            state = rows(catalog)
        asked_elsewhere = sum(other.meter.paths.values())
    assert state["same"][0] == "downloaded"  # a redirect on the URL's own host is followed
    assert asked_elsewhere == 0, "the other port was never asked"
    expected = {"off": f"redirect to {other.host} refused: not a host dir files come from",
                "passwd": "redirect to a non-HTTP URL (file:) refused",
                "data": "redirect to a non-HTTP URL (data:) refused",
                "ftp": "redirect to a non-HTTP URL (ftp:) refused"}
    for name, words in expected.items():
        status, error, attempts, next_at = state[name]
        assert (status, attempts, next_at) == ("failed", 1, None), (name, state[name])  # for good
        assert words in error, (name, error)
    assert report.gave_up == 4 and report.stored == 1


def test_follow_host_allows_a_redirect_under_the_targets_limits(tmp_path: Path, catalog_url: str) -> None:
    files = {f"f{i}": camera_jpeg(10 + i) for i in range(6)}
    target = FileHost(files, latency=0.05)
    with Loopback(target.app()) as other:
        hop = Redirector({n: other.url(f"/img/{n}") for n in files})
        with Loopback(hop.app()) as server, Catalog.open(catalog_url) as catalog:
            catalog.add_candidates([Candidate("dir", n, server.url(f"/r/{n}")) for n in files])
            cfg = config(tmp_path, HostPolicy(server.host, 6, INF, 6), HostPolicy(other.host, 1, 20.0, 1),
                         hosts=HostRules(follow=(other.host,)))
            report = download(catalog, cfg, horizon=0.0)
        peak, gaps = other.meter.peak[other.host], other.meter.gaps(other.host)
    assert report.stored == 6
    assert peak == 1, "the redirect target's own concurrency limit held"
    assert min(gaps) >= 1 / 20 - 0.01, "and its request rate"


def test_follow_host_patterns_are_checked_and_allow_matching_hosts(tmp_path: Path) -> None:
    cfg = downloader_config(tmp_path, follow_hosts=[" Images.Example.org ", "127.0.0.1:*"])
    assert cfg.hosts.follow == ("images.example.org", "127.0.0.1:*")
    origin = URL("http://a.test/x.jpg")
    assert cfg.hosts.redirect_refusal("dir", origin, URL("https://images.example.org/x.jpg")) is None
    assert cfg.hosts.redirect_refusal("dir", origin, URL("http://127.0.0.1:9/x.jpg")) is None
    assert cfg.hosts.redirect_refusal("dir", origin, URL("http://10.0.0.1/x.jpg")) is not None
    for bad in ("https://images.example.org/", "", "a=b"):
        with pytest.raises(CamidError, match="--follow-host"):
            downloader_config(tmp_path, follow_hosts=[bad])
    mirror = HostRules().allowing("flickr", "127.0.0.1:*")  # how a test lets Flickr's files be local
    assert mirror.redirect_refusal("flickr", URL(FLICKR_O), URL("http://127.0.0.1:9/1_o.jpg")) is None
    assert mirror.redirect_refusal("flickr", URL(FLICKR_O), URL("https://c1.staticflickr.com/x")) is None
    assert mirror.redirect_refusal("wikimedia", URL(FLICKR_O), URL("http://127.0.0.1:9/x")) is not None


@pytest.mark.parametrize(("source", "origin", "target", "refused"), [
    ("flickr", FLICKR_O, "https://farm66.staticflickr.com/65535/1_abc_o.jpg", None),
    ("flickr", FLICKR_O, "https://www.flickr.com/photos/x/1", None),
    ("flickr", FLICKR_O, "https://live.staticflickr.com.evil.example/1_o.jpg", "evil.example refused"),
    ("flickr", FLICKR_O, "http://127.0.0.1:8080/1_o.jpg", "127.0.0.1:8080 refused"),
    ("flickr", "http://127.0.0.1:8080/1_o.jpg", "http://127.0.0.1:8080/2_o.jpg", "refused"),  # not own
    ("wikimedia", "https://upload.wikimedia.org/a.jpg", "https://upload.wikimedia.org/b.jpg", None),
    ("wikimedia", "https://upload.wikimedia.org/a.jpg", "https://commons.wikimedia.org/b.jpg", "refused"),
    ("reviews", "https://www.dpreview.com/a.jpg", "https://2.img-dpreview.com/a.jpg", None),
    ("reviews", "https://www.dpreview.com/a.jpg", "https://cdn.example.net/a.jpg", "refused"),
    ("dir", "http://a.test/x.jpg", "https://a.test/x.jpg", None),  # http -> https, same host
    ("dir", "http://a.test:8000/x.jpg", "http://a.test:8001/x.jpg", "a.test:8001 refused"),
    ("dir", "http://a.test/x.jpg", "http://b.test/x.jpg", "b.test refused"),
    ("dir", "http://a.test/x.jpg", "file:///etc/passwd", "non-HTTP URL (file:)"),
    ("unknown", "http://a.test/x.jpg", "http://a.test/y.jpg", None),  # no list: its own host only
])
def test_redirect_rules_per_source(source: str, origin: str, target: str, refused: str | None) -> None:
    reason = HostRules().redirect_refusal(source, URL(origin), URL(target))
    assert reason is None if refused is None else refused in (reason or ""), reason


def test_a_redirect_to_a_contact_host_without_a_contact_is_not_made(tmp_path: Path,
                                                                   catalog_url: str) -> None:
    hop = Redirector({"w": "http://upload.wikimedia.org/wikipedia/commons/a/ab/x.jpg"})
    with Loopback(hop.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "w", server.url("/r/w"))])
        download(catalog, config(tmp_path, *loose(server), hosts=HostRules(follow=("*.wikimedia.org",))),
                 horizon=0.0)
        status, error, _, next_at = rows(catalog)["w"]
    assert (status, error) == ("failed", CONTACT_MISSING) and next_at is not None  # retried once set


# ---- what an API answers ---------------------------------------------------------------------


class OffHostFlickr(FakeFlickr):
    """A Flickr API whose answers name some originals on hosts Flickr does not serve from."""

    elsewhere: dict[str, str]

    def row(self, p: Photo) -> dict:
        row = super().row(p)
        if p.id in self.elsewhere:
            row["url_o"] = self.elsewhere[p.id]
        return row


def test_flickr_answers_naming_other_hosts_are_skipped_before_download(tmp_path: Path,
                                                                      catalog_url: str) -> None:
    photos = [Photo(str(1000 + i), 1_400_000_000 + i, camera_jpeg(30 + i)) for i in range(5)]
    fake = OffHostFlickr(photos, "KEY")
    with Loopback(fake.app()) as server, Loopback(FileHost({}).app()) as private, \
            Catalog.open(catalog_url) as catalog:
        fake.base = server.base
        fake.elsewhere = {"1002": "http://10.0.0.7/photos/1002_o.jpg",
                          "1003": "https://flickr.example.net/1003_o.jpg",
                          "1004": private.url("/img/1004_o.jpg")}  # loopback, another port
        caller = FlickrCaller(FlickrCredentials("KEY", "SECRET"), CallBudget(3600),
                              endpoint=server.url("/services/rest/"), sleep=lambda s: None)
        hosts = SourceHosts("flickr", (*FLICKR_HOSTS, server.host))  # the fake serves Flickr's files
        report = scrape(catalog, HostScreen(FlickrSource(caller), hosts), [REGISTRY.get("iPhone-6")])
        fetched = download(catalog, config(tmp_path, *loose(server, private)), horizon=0.0)
        status = {n: catalog.candidate_status(CandidateKey("flickr", n)) for n in fake.elsewhere}
        with catalog.engine.connect() as conn:
            notes = dict(conn.exec_driver_sql("SELECT source_id, last_error FROM candidates").all())
        asked_privately = sum(private.meter.paths.values())
    assert report.added == 2 and report.skipped == {"off_source_host": 3}
    assert set(status.values()) == {CandidateStatus.SKIPPED} and fetched.stored == 2
    assert asked_privately == 0
    assert "10.0.0.7 is not a host flickr serves files from" in notes["1002"]
    assert f"{private.host} is not a host flickr serves files from" in notes["1004"]


class OffHostCommons(FakeCommons):
    """A Commons API that names one file on a private address."""

    def page(self, f: CommonsFile) -> dict:
        page = super().page(f)
        if f.pageid == 2:
            page["imageinfo"][0]["url"] = "http://192.168.1.20/upload/2.jpg"
        return page


def test_commons_answers_are_screened_through_make_source(catalog_url: str) -> None:
    category = "Taken with Apple iPhone 6"
    fake = OffHostCommons([CommonsFile(i, category, camera_jpeg(40 + i)) for i in range(1, 4)])
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        fake.base = server.base  # the endpoint's own host serves the other files: allowed
        made = make_source("wikimedia", catalog, REGISTRY, endpoint=server.url("/w/api.php"),
                           contact="tests@camid.example")
        report = scrape(catalog, made, [REGISTRY.get("iPhone-6")])
        assert catalog.candidate_status(CandidateKey("wikimedia", "2")) is CandidateStatus.SKIPPED
    assert report.added == 2 and report.skipped == {"off_source_host": 1}
    assert made.name == "wikimedia" and made.api_calls == fake.calls


# ---- byte rates --------------------------------------------------------------------------------


def big_jpeg(seed: int, size: int = 1 << 20) -> bytes:
    """A JPEG padded to ``size`` bytes with zeros after its EOI (a long trailer: still whole)."""
    body = camera_jpeg(seed)
    return body + b"\x00" * (size - len(body))


def timed_download(data_dir: Path, catalog: Catalog, seed: int, mbps: float) -> float:
    """Seconds to fetch two 1 MiB files from a host allowed 2 connections and ``mbps``."""
    files = {f"{seed}a": big_jpeg(seed), f"{seed}b": big_jpeg(seed + 1)}
    with Loopback(FileHost(files).app()) as server:
        catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files])
        started = time.monotonic()
        report = download(catalog, config(data_dir, HostPolicy(server.host, 2, INF, 2, mbps=mbps),
                                          max_bytes=4 << 20), horizon=0.0)
        elapsed = time.monotonic() - started
    assert report.stored == 2
    return elapsed


def test_a_hosts_byte_rate_holds_across_its_connections(tmp_path: Path, catalog_url: str) -> None:
    """2 MiB over two connections sharing 32 Mbps (4 MB/s) take >= ~0.52 s (without the shared
    bucket they take 0.05-0.07 s here). Only the lower bound is asserted: a loaded machine makes
    any download slower, so comparing with an unlimited run's wall time would be a coin toss."""
    with Catalog.open(catalog_url) as catalog:
        limited = timed_download(tmp_path, catalog, 50, mbps=32.0)
    assert limited >= 0.45, limited


# ---- host limits from the command line ---------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("a.test=2", ("a.test", 2, 1.0, INF)),
    ("a.test=2:5", ("a.test", 2, 5.0, INF)),  # the old form, as it was
    ("upload.wikimedia.org=2:5:25", ("upload.wikimedia.org", 2, 5.0, 25.0)),
    ("127.0.0.1:8080=3:inf:800", ("127.0.0.1:8080", 3, INF, 800.0)),
    ("*.example.org=1::0.5", ("*.example.org", 1, 1.0, 0.5)),  # rate left out: 1/s
    (" b.test = 4 : 10 : inf ", ("b.test", 4, 10.0, INF)),
])
def test_host_limits_with_a_byte_rate(text: str, expected: tuple) -> None:
    policy = parse_host_limit(text)
    assert (policy.pattern, policy.concurrency, policy.rate, policy.mbps) == expected
    assert policy.burst == policy.concurrency


@pytest.mark.parametrize("text", [
    "a.test=2:5:0", "a.test=2:5:-3", "a.test=2:5:fast", "a.test=2:5:nan", "a.test=2:nan",
    "a.test=2:5:25:1", "a.test=0:5:25", "=2:5:25", "a.test", "a.test=2:0", "a.test=:5:25",
])
def test_bad_host_limits_say_the_form(text: str) -> None:
    with pytest.raises(ValueError, match=r"PATTERN=CONCURRENCY\[:RATE\[:MBPS\]\]"):
        parse_host_limit(text)


def test_wikimedias_default_etiquette_and_shares() -> None:
    wikimedia = policy_for("upload.wikimedia.org", 443, DEFAULT_POLICIES)
    assert (wikimedia.concurrency, wikimedia.mbps, wikimedia.byte_rate) == (2, 25.0, 3_125_000)
    assert policy_for("live.staticflickr.com", 443, DEFAULT_POLICIES).mbps == INF
    assert share_policies([wikimedia], 2)[0].mbps == 12.5  # two downloaders: 25 Mbps together


def test_a_bad_host_limit_is_one_line_error(tmp_path: Path) -> None:
    out = camid("download", "--host-limit", "upload.wikimedia.org=2:5:lots", cwd=tmp_path)
    assert out.returncode == 1 and out.stderr.splitlines() == [
        "camid: error: --host-limit: bad host limit 'upload.wikimedia.org=2:5:lots': use "
        "PATTERN=CONCURRENCY[:RATE[:MBPS]], e.g. upload.wikimedia.org=2:5:25"]


# ---- Wikimedia wants a contact -----------------------------------------------------------------


def test_wikimedia_urls_due_without_a_contact_stop_the_run(tmp_path: Path, catalog_url: str) -> None:
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([
            Candidate("wikimedia", "1", "https://upload.wikimedia.org/wikipedia/commons/a/ab/1.jpg"),
            Candidate("dir", "2", "http://UPLOAD.wikimedia.org:80/x.jpg"),
            Candidate("dir", "3", "http://example.org/upload.wikimedia.org.jpg")])  # not its host
        with pytest.raises(ConfigError) as err:
            download(catalog, downloader_config(tmp_path), horizon=0.0)
        assert str(err.value) == f"{CONTACT_MISSING} (2 due URL(s) are on Wikimedia hosts)"
        assert catalog.due_on_hosts(datetime.now(UTC), ["*.wikimedia.org"]) == 2
        state = rows(catalog)
    assert all(r[0] == "pending" and r[2] == 0 for r in state.values()), "nothing was tried"


def test_cli_follows_an_allowed_redirect_and_wants_a_contact(tmp_path: Path) -> None:
    files = {"a": camera_jpeg(60), "b": camera_jpeg(61)}
    with Loopback(FileHost(files).app()) as other:
        hop = Redirector({n: other.url(f"/img/{n}") for n in files})
        with Loopback(hop.app()) as server:
            listing = tmp_path / "urls.txt"
            listing.write_text("".join(server.url(f"/r/{n}") + "\n" for n in files))
            camid("scrape", "dir", "--url-list", str(listing), cwd=tmp_path)
            fetched = camid("download", "--follow-host", other.host,
                            "--host-limit", "127.0.0.1:*=4:inf:800", cwd=tmp_path)
    assert fetched.returncode == 0 and "stored 2 file(s)" in fetched.stdout, fetched.stderr
    with Catalog.open(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}") as catalog:
        catalog.add_candidates([Candidate("wikimedia", "9", "https://upload.wikimedia.org/w/9.jpg")])
    refused = camid("download", cwd=tmp_path)
    assert refused.returncode == 1 and refused.stderr.splitlines() == [
        f"camid: error: {CONTACT_MISSING} (1 due URL(s) are on Wikimedia hosts)"]
