"""Wikimedia Commons against a loopback Action API: continuation, maxlag, prefilter, SHA-1."""

from __future__ import annotations

from pathlib import Path

import pytest

from db import Catalog
from flows.stages.acquire import download, scrape
from pipeline.policy import load_policy
from pipeline.records import CandidateKey, CandidateStatus
from pipeline.registry_load import load_registry
from scrapers.base import SourceError, user_agent
from scrapers.download import DownloaderConfig
from scrapers.fetch import FetchOptions
from scrapers.http import Etiquette, PoliteClient
from scrapers.limits import HostPolicy
from scrapers.wikimedia import WikimediaSource
from tests.fakes.cli import camid
from tests.fakes.commons import CommonsFile, FakeCommons
from tests.fakes.images import camera_jpeg
from tests.fakes.server import Loopback

REGISTRY = load_registry(None)
CATEGORY = "Taken with Apple iPhone 6"


def commons_files() -> list[CommonsFile]:
    good = [CommonsFile(100 + i, CATEGORY, camera_jpeg(700 + i)) for i in range(7)]
    return [
        *good,
        CommonsFile(200, CATEGORY, camera_jpeg(720), software="Adobe Photoshop CC 2015"),
        CommonsFile(201, CATEGORY, camera_jpeg(721), model="iPhone 6 Plus"),
        CommonsFile(202, CATEGORY, camera_jpeg(722), width=1024, height=768),
        CommonsFile(203, CATEGORY, camera_jpeg(723), make="NIKON CORPORATION", model="NIKON D750"),
        CommonsFile(204, CATEGORY, camera_jpeg(724), sha1="0" * 40),  # will not verify
    ]


def source(server: Loopback, fake: FakeCommons, batch: int = 3, **kw: int) -> WikimediaSource:
    fake.base = server.base
    client = PoliteClient(user_agent("tests@camid.example"), Etiquette(min_interval=0.0, max_wait=5))
    return WikimediaSource(client, REGISTRY, load_policy(), endpoint=server.url("/w/api.php"),
                           batch=batch, **kw)


# a category graph: two subdivisions of the camera's category, one of which leads back to it
IN_2015, LENSES, NIGHT, DEEP = ("IPhone 6 in 2015", "Taken with Apple iPhone 6 and lenses",
                                "IPhone 6 at night", "IPhone 6 deeper")
SUBCATS = {CATEGORY: [IN_2015, LENSES], IN_2015: [NIGHT, CATEGORY], NIGHT: [DEEP], LENSES: [IN_2015]}


def graph_files() -> list[CommonsFile]:
    """Files by category; 100 and 300 are in two categories each (one page, two listings)."""
    jpegs = {n: camera_jpeg(740 + n % 100) for n in (100, 101, 300, 301, 302, 303, 304)}
    where = [(100, CATEGORY), (101, CATEGORY), (300, IN_2015), (301, IN_2015), (100, IN_2015),
             (302, LENSES), (300, LENSES), (303, NIGHT), (304, DEEP)]
    return [CommonsFile(n, category, jpegs[n]) for n, category in where]


def test_continuation_maxlag_and_prefilter(tmp_path: Path, catalog_url: str) -> None:
    fake = FakeCommons(commons_files(), lagged=2)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog:
        src = source(server, fake)
        report = scrape(catalog, src, [REGISTRY.get("iPhone-6")])
        assert report.found == 12 and report.added == 8
        assert report.skipped == {"edited_software": 1, "excluded_model": 1, "non_native_size": 1,
                                  "unknown_camera": 1}
        # two lagged answers, four pages of 3, the category's subcategories (none)
        assert report.api_calls == fake.calls == 2 + 4 + 1
        continued = [p.get("gcmcontinue") for p in fake.params_seen if "list" not in p]
        assert continued[:2] == [None, None] and continued[2:] == [None, "file|3", "file|6", "file|9"]
        assert all(p["maxlag"] == "5" for p in fake.params_seen)
        good = catalog.get_candidate(CandidateKey("wikimedia", "100"))
        assert good is not None and good.author == "Alice" and good.licence == "CC BY-SA 4.0"
        assert catalog.candidate_status(CandidateKey("wikimedia", "202")) is CandidateStatus.SKIPPED

        cfg = DownloaderConfig(FetchOptions(tmp_path, fsync=False, max_attempts=1), 4,
                               (HostPolicy(server.host, 2, float("inf")),))
        result = download(catalog, cfg)
        assert result.stored == 7 and result.gave_up == 1
        assert catalog.candidate_status(CandidateKey("wikimedia", "204")) is CandidateStatus.FAILED
        assert server.meter.peak[server.host] <= 2


@pytest.mark.parametrize(("depth", "found"), [(0, {100, 101}), (1, {100, 101, 300, 301, 302}),
                                              (2, {100, 101, 300, 301, 302, 303}),
                                              (9, {100, 101, 300, 301, 302, 303, 304})])
def test_subcategories_to_depth_each_file_once_cycles_end(depth: int, found: set[int]) -> None:
    fake = FakeCommons(graph_files(), subcats=SUBCATS)
    with Loopback(fake.app()) as server:
        src = source(server, fake, depth=depth, subcategory_batch=1)  # one subcategory a page
        ids = [int(c.source_id) for c in src.find([REGISTRY.get("iPhone-6")])]
    assert sorted(ids) == sorted(found)  # each file once, however many categories list it
    listed = [p["cmtitle"] for p in fake.params_seen
              if p.get("list") == "categorymembers" and "cmcontinue" not in p]
    assert len(listed) == len(set(listed))  # each category's subcategories asked once: no loop
    walked = [p["gcmtitle"] for p in fake.params_seen if p.get("generator") and "gcmcontinue" not in p]
    assert len(walked) == len(set(walked)) and f"Category:{CATEGORY}" in walked
    pages = [p.get("cmcontinue") for p in fake.params_seen if p.get("cmtitle") == f"Category:{CATEGORY}"]
    assert pages == ([] if depth == 0 else [None, "subcat|1"])  # continued to the end
    assert src.api_calls == fake.calls


def test_cli_walks_subcategories_to_the_depth_asked(tmp_path: Path) -> None:
    fake = FakeCommons(graph_files(), subcats=SUBCATS)
    with Loopback(fake.app()) as server:
        fake.base = server.base
        args = ("scrape", "wikimedia", "--camera", "iPhone-6", "--endpoint", server.url("/w/api.php"),
                "--contact", "tests@camid.example")
        default, deep = camid(*args, cwd=tmp_path), camid(*args, "--depth", "2", cwd=tmp_path)
    assert default.returncode == 0 and "5 found, 5 new candidate(s)" in default.stdout, default.stderr
    assert deep.returncode == 0 and "6 found, 1 new candidate(s)" in deep.stdout, deep.stderr


def test_the_api_stays_lagged(catalog_url: str) -> None:
    fake = FakeCommons(commons_files(), lagged=100)
    with Loopback(fake.app()) as server, Catalog.open(catalog_url) as catalog, \
            pytest.raises(SourceError, match="maxlag"):
        scrape(catalog, source(server, fake), [REGISTRY.get("iPhone-6")])


def test_cli_needs_a_contact_and_sends_it(tmp_path: Path) -> None:
    fake = FakeCommons(commons_files()[:2])
    with Loopback(fake.app()) as server:
        fake.base = server.base
        args = ("scrape", "wikimedia", "--camera", "iPhone-6", "--endpoint", server.url("/w/api.php"))
        refused = camid(*args, cwd=tmp_path)
        ok = camid(*args, "--contact", "https://example.org/me", cwd=tmp_path)
        agents = server.meter.agents
    assert refused.returncode == 1 and "--contact" in refused.stderr
    assert ok.returncode == 0 and "2 new candidate(s)" in ok.stdout, ok.stderr
    assert any(a.startswith("camid/") and a.endswith("(https://example.org/me)") for a in agents)
