"""The sources' parsing and etiquette rules, as pure functions over saved responses (no network)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from pipeline.policy import load_policy
from pipeline.records import Candidate, Reason
from pipeline.registry_load import load_registry
from scrapers.base import Skipped, redact, user_agent
from scrapers.flickr import judge_photo, parse_search
from scrapers.flickr_api import CallBudget, FlickrCredentials
from scrapers.folder import read_url_list, source_id
from scrapers.limits import DEFAULT_POLICIES, HostPolicy, parse_host_limit, policy_for
from scrapers.retry import backoff_delay, opt_out, parse_retry_after
from scrapers.reviews import (
    dpreview_galleries,
    dpreview_images,
    full_size,
    review_images,
    review_pages,
    title_matches,
)
from scrapers.wikimedia import category_params, judge_file, pages_of

SAVED = Path(__file__).parent / "fakes" / "saved"
REGISTRY = load_registry(None)
NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def saved(name: str) -> str:
    return (SAVED / name).read_text()


def test_flickr_search_page_with_numbers_as_strings() -> None:
    page = parse_search(json.loads(saved("flickr_search.json")))
    assert (page.page, page.pages, page.total, len(page.photos)) == (1, 1, 4, 4)
    camera = REGISTRY.get("iPhone-6")
    native, resized, png, no_original = (judge_photo(p, camera, load_policy()) for p in page.photos)
    assert isinstance(native, Candidate)
    assert native.url.endswith("15432101_f00d_o.jpg") and native.licence == "CC BY 2.0"
    assert (native.width, native.height, native.author) == (3264, 2448, "Alice")
    assert native.page_url == "https://www.flickr.com/photos/12345@N00/15432101"
    assert isinstance(resized, Skipped) and resized.reason is Reason.NON_NATIVE_SIZE
    assert resized.detail == "1600x1200 is not native to iPhone-6 (3264x2448)"
    assert isinstance(png, Skipped) and png.reason is Reason.NOT_JPEG and png.detail == "the file is png"
    assert png.candidate.url.endswith("15432103_cafe_o.png")  # built from originalsecret
    assert no_original is None


def test_flickr_page_of_a_failed_answer_is_empty() -> None:
    assert parse_search({"stat": "fail", "code": 100}).photos == ()


def test_commons_answer_pages_continuation_and_prefilter() -> None:
    doc = json.loads(saved("commons_query.json"))
    assert doc["continue"]["gcmcontinue"].startswith("file|")
    camera, policy = REGISTRY.get("iPhone-6"), load_policy()
    good, edited, plus, small, png = (judge_file(p, camera, REGISTRY, policy) for p in pages_of(doc))
    assert isinstance(good, Candidate)
    assert good.expected_sha1 == "0123456789abcdef0123456789abcdef01234567"
    assert (good.expected_bytes, good.licence, good.author) == (2345678, "CC BY-SA 4.0", "Alice")
    assert good.source_id == "1001" and good.page_url.endswith("File:Street_in_Lyon.jpg")
    assert isinstance(edited, Skipped) and edited.reason is Reason.EDITED_SOFTWARE
    assert edited.detail == "Software 'Adobe Photoshop Lightroom 5.7 (Windows)'"
    assert isinstance(plus, Skipped) and plus.reason is Reason.EXCLUDED_MODEL
    assert isinstance(small, Skipped) and small.reason is Reason.NON_NATIVE_SIZE
    assert isinstance(png, Skipped) and png.reason is Reason.NOT_JPEG


def commons_page(software: str) -> dict[str, object]:
    return {"pageid": 9, "imageinfo": [{
        "url": "https://upload.wikimedia.org/x.jpg", "mime": "image/jpeg", "width": 3264, "height": 2448,
        "metadata": [{"name": "Make", "value": "Apple"}, {"name": "Model", "value": "iPhone 6"},
                     {"name": "Software", "value": software}]}]}


@pytest.mark.parametrize(("software", "unknown_is_edit", "skipped"), [
    ("8.1.2", True, False),  # the iPhone's firmware, per the registry
    ("Camera360 5.1", True, True),  # no known editor, but not firmware either: the old pre-filter kept it
    ("Camera360 5.1", False, False),
    ("Snapseed", False, True),
])
def test_commons_prefilter_follows_the_policy_on_unknown_software(
        software: str, unknown_is_edit: bool, skipped: bool) -> None:
    policy = load_policy(overrides={"software": {"unknown_is_edit": unknown_is_edit}})
    found = judge_file(commons_page(software), REGISTRY.get("iPhone-6"), REGISTRY, policy)
    assert isinstance(found, Skipped) is skipped
    if isinstance(found, Skipped):
        assert (found.reason, found.detail) == (Reason.EDITED_SOFTWARE, f"Software {software!r}")


def test_flickr_prefilter_follows_the_policy_on_sizes() -> None:
    photo = {"id": "7", "url_o": "https://live.staticflickr.com/1/7_a_o.jpg", "originalformat": "jpg",
             "width_o": "1600", "height_o": "1200"}
    camera, no_size = REGISTRY.get("iPhone-6"), load_policy(overrides={"checks": {"native_size": False}})
    assert isinstance(judge_photo(photo, camera, load_policy()), Skipped)
    assert isinstance(judge_photo(photo, camera, no_size), Candidate)


def test_commons_pages_in_both_formats_and_query_parameters() -> None:
    assert pages_of({"query": {"pages": {"7": {"pageid": 7}}}}) == [{"pageid": 7}]
    params = category_params("Taken with Apple iPhone 6")
    assert params["gcmtitle"] == "Category:Taken with Apple iPhone 6"
    assert params["maxlag"] == "5" and "sha1" in params["iiprop"] and "metadata" in params["iiprop"]


def test_dpreview_gallery_list_and_gallery_json() -> None:
    galleries = dpreview_galleries(saved("dpreview_galleries.html"))
    assert [g for g, _ in galleries] == ["4017339157", "3651720386", "8000000001"]
    assert "Apple iPhone 6 sample gallery" in galleries[0][1]
    images = dpreview_images(json.loads(saved("dpreview_gallery.json")))
    assert [i for i, _ in images] == ["1", "2"]


def test_html_review_pages_images_and_size_tokens() -> None:
    url = "https://www.gsmarena.com/htc_one-review-919p6.php"
    html = saved("gsmarena_review.html")
    assert review_pages(html, url) == [
        "https://www.gsmarena.com/htc_one-review-919.php",
        "https://www.gsmarena.com/htc_one-review-919p5.php",
        "https://www.gsmarena.com/htc_one-review-919p6.php"]
    base = "https://fdn.gsmarena.com/imgroot/reviews/13/htc-one/camera/"
    assert review_images(html, url) == [base + "gsmarena_001.jpg", base + "gsmarena_002.jpg"]
    assert full_size(base + "-160x120/x.jpg") == base + "x.jpg"


@pytest.mark.parametrize(("text", "titles", "hit"), [
    ("Apple iPhone 6 sample gallery", ["Apple iPhone 6"], True),
    ("Apple iPhone 6s sample gallery", ["Apple iPhone 6"], False),
    ("HTC One review", ["HTC One"], True),
    ("HTC OneX review", ["HTC One"], False),
])
def test_gallery_titles_match_whole_words(text: str, titles: list[str], hit: bool) -> None:
    assert title_matches(text, titles) is hit


@pytest.mark.parametrize(("value", "seconds"), [
    ("120", 120.0), (" 0 ", 0.0), (None, None), ("soon", None),
    (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
    (format_datetime(NOW - timedelta(seconds=90), usegmt=True), 0.0),
])
def test_retry_after_in_seconds_or_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    rng = random.Random(1)
    delays = [backoff_delay(a, 2.0, 100.0, rng) for a in range(12) for _ in range(50)]
    assert all(0 <= d <= 100.0 for d in delays)
    assert max(backoff_delay(0, 2.0, 100.0, rng) for _ in range(100)) <= 2.0
    assert max(delays[-50:]) > 50  # late attempts spread up to the cap


@pytest.mark.parametrize(("values", "token"), [
    (["noai"], "noai"), (["noindex, nofollow"], "noindex"), (["otherbot: noimageai"], None),
    (["camid: noimageai"], "noimageai"), (["nofollow"], None), ([], None),
    (["unavailable_after: 25 Jun 2010 15:00:00 PST"], None),
])
def test_x_robots_tag_opt_outs(values: list[str], token: str | None) -> None:
    assert opt_out(values, "camid") == token


def test_host_limits_from_the_command_line_and_defaults() -> None:
    policy = parse_host_limit("127.0.0.1:8080=3:2.5")
    assert (policy.pattern, policy.concurrency, policy.rate) == ("127.0.0.1:8080", 3, 2.5)
    assert policy_for("127.0.0.1", 8080, (policy,)).concurrency == 3
    assert policy_for("upload.wikimedia.org", 443, DEFAULT_POLICIES).concurrency == 2
    assert policy_for("live.staticflickr.com", None, DEFAULT_POLICIES).concurrency == 4
    assert policy_for("www.dpreview.com", None, DEFAULT_POLICIES) == HostPolicy("*", 1, 1.0, 1)
    for bad in ("nohost", "x=0", "x=two", "=3"):
        with pytest.raises(ValueError, match="PATTERN=CONCURRENCY"):
            parse_host_limit(bad)


def test_flickr_budget_waits_for_the_sliding_hour() -> None:
    clock, slept = [0.0], []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    budget = CallBudget(3, already_used=1, clock=lambda: clock[0], sleep=sleep)
    budget.wait()
    clock[0] = 100.0
    budget.wait()
    assert slept == []
    budget.wait()  # fourth call in the hour (one from an earlier run): waits for the oldest to expire
    assert slept == [pytest.approx(3500.0)]


def test_credentials_come_from_the_environment_and_never_print() -> None:
    creds = FlickrCredentials.from_env({"FLICKR_API_KEY": "k-123", "FLICKR_API_SECRET": "s-456"})
    assert "k-123" not in repr(creds) and "s-456" not in repr(creds)
    with pytest.raises(Exception, match="FLICKR_API_KEY"):
        FlickrCredentials.from_env({})
    assert redact("bad key k-123 / s-456", ("k-123", "s-456", None)) == "bad key [redacted] / [redacted]"


def test_user_agent_names_camid_version_and_contact() -> None:
    assert user_agent("me@example.org").startswith("camid/") and user_agent("me@x").endswith("(me@x)")


def test_url_lists_and_long_ids() -> None:
    urls, bad = read_url_list("# mine\nhttps://a.test/1.jpg\n\nftp://x/y\nhttps://a.test/1.jpg\nnot a url\n")
    assert urls == ["https://a.test/1.jpg"] and bad == 2
    assert source_id("x" * 300).startswith("sha1:") and len(source_id("x" * 300)) < 255
