"""The downloader under the faults of issue 13, each against a real loopback server.

A long Retry-After ends the run (its host's URLs handed back with their time, the pause kept
for the next run); a body cut short is resumed with a Range; the same wrong bytes twice are
given up; counts are of URLs; a full disk is always retried; given-up URLs can be re-queued.
"""

from __future__ import annotations

import errno
import hashlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from db import Catalog
from flows.stages.acquire import download
from pipeline.records import Candidate, CandidateKey, DownloadTask, FailureReason
from scrapers.fetch import Problem, failure
from scrapers.partial import PARTIAL_DIR
from tests.fakes.cli import camid
from tests.fakes.files import FileHost, RateLimitedHost
from tests.fakes.images import camera_jpeg
from tests.fakes.server import Loopback
from tests.test_download import assert_storage_is_clean, config, make_due, rows, stored_files

BIG = camera_jpeg(800, size=(640, 480))  # about 360 KB: several chunks, so a cut lands mid-file


def _at(stored: object) -> datetime:
    return datetime.fromisoformat(str(stored)).replace(tzinfo=UTC)


def _sha(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest() + ".jpg"


def _codes(catalog: Catalog) -> dict[str, tuple[str | None, int]]:
    with catalog.engine.connect() as conn:
        return {sid: (code, streak) for sid, code, streak in conn.exec_driver_sql(
            "SELECT source_id, error_code, error_streak FROM candidates")}


# ---- a long Retry-After -----------------------------------------------------------------------


def test_a_long_retry_after_ends_the_run_and_the_next_run_leaves_the_host_alone(tmp_path: Path) -> None:
    """Its first request is refused for 7,200 s while others are served: tasks already waiting
    for a token are handed back too (they used to sleep out the pause), and a second run defers
    the host's new URLs without asking it."""
    files = {f"f{i:02}": camera_jpeg(700 + i) for i in range(12)}
    host = RateLimitedHost(files, pause=7200, first_latency=0.3)
    url = f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
    with Loopback(host.app()) as server:
        with Catalog.open(url) as catalog:
            catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files])
        # two connections, two requests a second: the second URL is served at once, the third
        # waits for its token (0.5 s) when the first one's refusal comes (0.3 s)
        args = ("download", "--wait-retries", "1", "--host-limit", f"{server.host}=2:2")
        started, t0 = datetime.now(UTC), time.monotonic()
        out = camid(*args, cwd=tmp_path, timeout=30)
        took = time.monotonic() - t0
        asked = len(host.requests)
        with Catalog.open(url) as catalog:
            first = rows(catalog)
            catalog.add_candidates([Candidate("dir", f"new{i}", server.url(f"/img/f0{i}")) for i in range(3)])
        again = camid(*args, cwd=tmp_path, timeout=30)
        with Catalog.open(url) as catalog:
            second = rows(catalog)
    assert out.returncode == 0 and again.returncode == 0, out.stderr + again.stderr
    assert took < 15, f"the run waited {took:.0f} s"
    refused = [n for n, _, sent in host.requests if sent == 0]
    assert len(refused) == 1, "nobody asked the host again during its pause"
    waiting = {n: r for n, r in first.items() if r[0] != "downloaded"}
    assert len(waiting) >= 8 and "deferred untried" in out.stdout
    for name, (status, _, note, attempts, next_at, _) in waiting.items():
        assert abs((_at(next_at) - started).total_seconds() - 7200) < 30, (name, next_at)
        if name == refused[0]:
            assert (status, attempts) == ("failed", 1) and "HTTP 429" in note
        else:
            assert (status, attempts) == ("pending", 0) and "asked to wait" in note, name
    assert len(host.requests) == asked, "the second run did not contact the paused host"
    for name in ("new0", "new1", "new2"):
        status, _, note, attempts, next_at, _ = second[name]
        assert (status, attempts) == ("pending", 0) and "asked to wait" in note
        assert abs((_at(next_at) - started).total_seconds() - 7200) < 30


def test_a_pause_that_begins_while_a_task_waits_for_its_turn_hands_it_back(tmp_path: Path,
                                                                           catalog_url: str) -> None:
    """30 s is longer than the horizon (1 s), if shorter than the downloader's own default limit:
    the horizon bounds the wait, and the pause is kept for whoever comes next."""
    files = {f"f{i}": camera_jpeg(720 + i) for i in range(6)}
    host = RateLimitedHost(files, pause=30, first_latency=0.3)
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files])
        t0 = time.monotonic()
        report = download(catalog, config(tmp_path, server.host, conc=2, rate=2.0), horizon=1.0)
        took = time.monotonic() - t0
        pauses = catalog.host_pauses(datetime.now(UTC))
    assert took < 10
    assert report.stored + report.failed + report.deferred == 6 and report.deferred >= 3
    assert [(p.host, p.port) for p in pauses] == [("127.0.0.1", server.port)]


# ---- resuming a body cut short ------------------------------------------------------------------


def test_a_cut_body_is_resumed_with_a_range_and_only_the_rest_is_sent(tmp_path: Path,
                                                                      catalog_url: str) -> None:
    cut = 100_000
    host = FileHost({"a": BIG}, {"a": [f"cut:{cut}"]})
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "a", server.url("/img/a"))])
        cfg = config(tmp_path, server.host, max_bytes=1 << 20)
        download(catalog, cfg, horizon=0.0)
        first = rows(catalog)["a"]
        parked = sorted(p.suffix for p in (tmp_path / "images" / PARTIAL_DIR).iterdir())
        stored_first = stored_files(tmp_path)
        make_due(catalog)
        download(catalog, cfg, horizon=0.0)
        second = rows(catalog)["a"]
    assert first[0] == "failed" and "cut short" in first[2] and first[4] is not None
    assert parked == [".json", ".part"] and stored_first == {}
    assert second[0] == "downloaded"
    assert host.requests == [("a", None, cut), ("a", f"bytes={cut}-", len(BIG) - cut)]
    assert stored_files(tmp_path) == {_sha(BIG): BIG}
    assert list((tmp_path / "images" / PARTIAL_DIR).iterdir()) == []
    assert_storage_is_clean(tmp_path)


@pytest.mark.parametrize("change", ["file changed", "ranges not served"])
def test_a_whole_answer_to_a_range_starts_over_cleanly(tmp_path: Path, catalog_url: str,
                                                       change: str) -> None:
    """If-Range names the old version: a changed file comes whole (never old bytes spliced to
    new ones), and so does a server that ignores ranges."""
    new = camera_jpeg(801, size=(640, 480))
    host = FileHost({"a": BIG}, {"a": ["cut:100000"]})
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "a", server.url("/img/a"))])
        cfg = config(tmp_path, server.host, max_bytes=1 << 20)
        download(catalog, cfg, horizon=0.0)
        if change == "file changed":
            host.files["a"] = new
        else:
            host.ranges = False
        make_due(catalog)
        download(catalog, cfg, horizon=0.0)
        state = rows(catalog)["a"]
    body = new if change == "file changed" else BIG
    assert state[0] == "downloaded"
    assert host.requests[1] == ("a", "bytes=100000-", len(body))  # asked for the rest, got the whole
    assert stored_files(tmp_path) == {_sha(body): body}
    assert_storage_is_clean(tmp_path)


def test_a_range_the_server_cannot_satisfy_drops_the_kept_bytes(tmp_path: Path, catalog_url: str) -> None:
    host = FileHost({"a": BIG}, {"a": ["cut:100000", "416"]})
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "a", server.url("/img/a"))])
        cfg = config(tmp_path, server.host, max_bytes=1 << 20)
        for _ in range(3):
            download(catalog, cfg, horizon=0.0)
            make_due(catalog)
        state = rows(catalog)["a"]
    assert state[0] == "downloaded" and host.requests[-1] == ("a", None, len(BIG))
    assert stored_files(tmp_path) == {_sha(BIG): BIG}
    assert_storage_is_clean(tmp_path)


def test_kept_bytes_that_changed_on_disk_are_never_stored(tmp_path: Path, catalog_url: str) -> None:
    """A part file damaged between attempts (same size, other bytes) fails that attempt; the next
    one fetches the whole file."""
    host = FileHost({"a": BIG}, {"a": ["cut:100000"]})
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "a", server.url("/img/a"))])
        cfg = config(tmp_path, server.host, max_bytes=1 << 20)
        download(catalog, cfg, horizon=0.0)
        part = next((tmp_path / "images" / PARTIAL_DIR).glob("*.part"))
        damaged = bytearray(part.read_bytes())
        damaged[5000:5100] = b"\x00" * 100
        part.write_bytes(bytes(damaged))
        make_due(catalog)
        download(catalog, cfg, horizon=0.0)
        refused = rows(catalog)["a"]
        stored_then = stored_files(tmp_path)
        make_due(catalog)
        download(catalog, cfg, horizon=0.0)
        final = rows(catalog)["a"]
    assert refused[0] == "failed" and "changed on disk" in refused[2] and stored_then == {}
    assert final[0] == "downloaded" and host.requests[-1] == ("a", None, len(BIG))
    assert stored_files(tmp_path) == {_sha(BIG): BIG}
    assert_storage_is_clean(tmp_path)


# ---- caps per reason ------------------------------------------------------------------------------


def test_a_sha1_mismatch_twice_in_a_row_is_given_up(tmp_path: Path, catalog_url: str) -> None:
    host = FileHost({"a": BIG})
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "a", server.url("/img/a"), expected_sha1="0" * 40)])
        cfg = config(tmp_path, server.host, max_bytes=1 << 20, max_attempts=6)
        download(catalog, cfg, horizon=0.0)
        first, first_code = rows(catalog)["a"], _codes(catalog)["a"]
        make_due(catalog)
        download(catalog, cfg, horizon=0.0)
        second, second_code = rows(catalog)["a"], _codes(catalog)["a"]
    assert first[0] == "failed" and first[4] is not None and first_code == ("sha1_mismatch", 1)
    assert second[0] == "failed" and second[4] is None, "the same wrong bytes twice: given up"
    assert "2 attempts in a row" in second[2] and second_code == ("sha1_mismatch", 2)
    assert len(host.requests) == 2 and stored_files(tmp_path) == {}


@pytest.mark.parametrize(("last", "streak", "code", "given_up"), [
    (None, 0, FailureReason.SHA1_MISMATCH, False),
    ("sha1_mismatch", 1, FailureReason.SHA1_MISMATCH, True),
    ("timeout", 1, FailureReason.SHA1_MISMATCH, False),  # another reason in between: a new streak
    ("size_mismatch", 1, FailureReason.SIZE_MISMATCH, True),
    ("timeout", 4, FailureReason.TIMEOUT, False),  # no cap of its own: max_attempts (6) decides
    ("disk_full", 40, FailureReason.DISK_FULL, False),  # never
])
def test_caps_per_reason(last: str | None, streak: int, code: FailureReason, given_up: bool) -> None:
    from scrapers.fetch import FetchOptions

    task = DownloadTask(CandidateKey("dir", "a"), "http://x.test/a", attempts=streak,
                        last_code=last, streak=streak)
    result = failure(task, Problem("boom", code=code), FetchOptions(Path("."), max_attempts=6),
                     datetime.now(UTC))
    assert result.permanent is given_up and result.code is code


# ---- counts ------------------------------------------------------------------------------------------


def test_counts_are_of_urls_and_the_progress_total_is_what_was_due(tmp_path: Path,
                                                                  catalog_url: str) -> None:
    """Quick retries within the run: each URL is counted once, where it ended."""
    files = {n: camera_jpeg(900 + i) for i, n in enumerate(["twice", "gone", "ok"])}
    host = FileHost(files, {"twice": ["503:0", "503:0"], "gone": ["404"]}, ranges=False)
    other = FileHost({"flaky": camera_jpeg(903)}, {"flaky": ["truncated", "truncated", "429:600"]},
                     ranges=False)
    ticks: list[tuple[int, int]] = []
    with Loopback(host.app()) as server, Loopback(other.app()) as second, \
            Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files]
                               + [Candidate("dir", "flaky", second.url("/img/flaky"))])
        cfg = config(tmp_path, server.host, second.host, backoff_base=0.01, max_attempts=5)
        report = download(catalog, cfg, horizon=2.0, tick=lambda _s, done, total: ticks.append((done, total)))
        state = rows(catalog)
    assert state["twice"][0] == "downloaded" and state["twice"][3] == 3
    assert state["flaky"][0] == "failed" and state["flaky"][3] == 3 and state["flaky"][4] is not None
    assert (report.stored, report.failed, report.gave_up, report.deferred) == (2, 1, 1, 0)
    assert report.failed_by_reason == {"refused": 1, "http_error": 1}
    assert {total for _, total in ticks} == {4} and ticks[-1] == (4, 4)


def test_stats_separate_will_retry_from_gave_up_and_show_skip_reasons(tmp_path: Path) -> None:
    # in claim order: the 503 comes last, as it pauses the host (its backoff defers what follows)
    files = {"ok": camera_jpeg(960), "gone": b"", "noai": camera_jpeg(962), "later": camera_jpeg(961)}
    host = FileHost(files, {"gone": ["404"], "later": ["503"], "noai": ["noai"]})
    with Loopback(host.app()) as server:
        url = f"sqlite:///{tmp_path / 'data' / 'catalog.db'}"
        with Catalog.open(url) as catalog:
            catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}"), camera="iPhone-6")
                                    for n in files])
            download(catalog, config(tmp_path / "data", server.host, conc=1), horizon=0.0)
        out = camid("stats", "--json", cwd=tmp_path)
        table = camid("stats", cwd=tmp_path)
    import json

    line = json.loads(out.stdout)["per_camera_source"][0]
    assert (line["failed"], line["will_retry"], line["gave_up"]) == (2, 1, 1)
    assert line["failed_by_reason"] == {"will_retry": {"refused": 1}, "gave_up": {"http_error": 1}}
    assert line["skipped_by_reason"] == {"opt_out": 1}
    assert "will retry" in table.stdout and "gave up" in table.stdout
    assert "ruled out before download" in table.stdout and "opt_out 1" in table.stdout


# ---- a full disk ---------------------------------------------------------------------------------------


class FullDisk:
    """A temporary file on a full disk: every write fails with ENOSPC (the storage boundary)."""

    closed = False

    def __init__(self, fd: int) -> None:
        import os

        os.close(fd)

    def write(self, chunk: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True


def test_a_full_disk_is_retried_later_and_never_given_up(tmp_path: Path, catalog_url: str) -> None:
    files = {f"f{i}": camera_jpeg(970 + i) for i in range(4)}
    host = FileHost(files)
    with Loopback(host.app()) as server, Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files])
        full = config(tmp_path, server.host, conc=1, max_attempts=1, open_part=FullDisk)
        report = download(catalog, full, horizon=0.0)
        state, codes = rows(catalog), _codes(catalog)
        make_due(catalog)
        healed = download(catalog, config(tmp_path, server.host, max_attempts=1), horizon=0.0)
    tried = [n for n, r in state.items() if r[0] == "failed"]
    assert len(tried) == 1 and len(host.requests) == 4 + 1  # one asked on the full disk, then all
    _, _, error, attempts, next_at, _ = state[tried[0]]
    assert "disk is full" in error and next_at is not None and attempts == 0  # still retryable
    assert codes[tried[0]] == ("disk_full", 1)
    for name in set(files) - set(tried):  # the rest handed back untried
        assert state[name][0] == "pending" and "disk is full" in state[name][2] and state[name][4]
    assert (report.failed, report.gave_up, report.deferred) == (1, 0, 3)
    assert healed.stored == 4
    assert_storage_is_clean(tmp_path)


def test_a_full_disk_while_copying_a_local_file_is_not_the_files_fault(tmp_path: Path,
                                                                       catalog_url: str) -> None:
    mine = tmp_path / "mine.jpg"
    mine.write_bytes(camera_jpeg(980))
    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", "mine", mine.as_uri())])
        download(catalog, config(tmp_path / "data", open_part=FullDisk), horizon=0.0)
        status, _, error, attempts, next_at, _ = rows(catalog)["mine"]
        assert _codes(catalog)["mine"][0] == "disk_full"
    assert status == "failed" and next_at is not None and attempts == 0 and "disk is full" in error


# ---- re-queueing what gave up ----------------------------------------------------------------------


def test_retry_failed_requeues_what_gave_up_all_or_by_reason(tmp_path: Path) -> None:
    files = {"gone": camera_jpeg(990), "page": camera_jpeg(991), "ok": camera_jpeg(992)}
    host = FileHost(files, {"gone": ["404"] * 2, "page": ["wrongtype"] * 2})
    with Loopback(host.app()) as server:
        with Catalog.open(f"sqlite:///{tmp_path / 'data' / 'catalog.db'}") as catalog:
            catalog.add_candidates([Candidate("dir", n, server.url(f"/img/{n}")) for n in files])
        limit = ("--host-limit", f"{server.host}=2:inf", "--wait-retries", "0")
        first = camid("download", *limit, cwd=tmp_path)
        by_reason = camid("download", "--retry-failed", "--reason", "http_error", *limit, cwd=tmp_path)
        after_reason = dict(server.meter.paths)
        everything = camid("download", "--retry-failed", *limit, cwd=tmp_path)
        healed = camid("download", "--retry-failed", *limit, cwd=tmp_path)
        wrong = camid("download", "--retry-failed", "--reason", "nope", cwd=tmp_path)
        alone = camid("download", "--reason", "http_error", cwd=tmp_path)
    assert "2 failed for good" in first.stdout
    assert "re-queued 1 URL(s) that had been given up (last failure http_error)" in by_reason.stdout
    assert (after_reason["/img/gone"], after_reason["/img/page"]) == (2, 1)
    # gone now answers (its 404s are used up), page is wrong once more, then answers too
    assert "re-queued 2 URL(s)" in everything.stdout and "stored 1 file(s)" in everything.stdout
    assert "failed by reason: wrong_type 1" in everything.stdout
    assert "re-queued 1 URL(s)" in healed.stdout and "stored 1 file(s)" in healed.stdout
    assert wrong.returncode != 0 and "camid: error: --reason 'nope' is not a failure code" in wrong.stderr
    assert alone.returncode != 0 and "give --retry-failed too" in alone.stderr


def test_requeue_touches_only_what_gave_up(catalog_url: str) -> None:
    from pipeline.records import DownloadFailure

    with Catalog.open(catalog_url) as catalog:
        catalog.add_candidates([Candidate("dir", n, f"http://x.test/{n}") for n in "abc"])
        later = datetime.now(UTC) + timedelta(hours=1)
        catalog.record_fetch_results([], [
            DownloadFailure(CandidateKey("dir", "a"), "HTTP 404", None, FailureReason.HTTP_ERROR),
            DownloadFailure(CandidateKey("dir", "b"), "timed out", later, FailureReason.TIMEOUT)], [])
        assert catalog.requeue_failed(["timeout"]) == 0  # b will be retried anyway: not given up
        assert catalog.requeue_failed() == 1
        state = rows(catalog)
    assert state["a"][0] == "pending" and state["a"][3] == 0 and state["b"][0] == "failed"


# ---- the range rules, one by one ---------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "validator"), [
    ({"ETag": '"abc"'}, '"abc"'),
    ({"ETag": 'W/"abc"', "Last-Modified": "Tue, 01 Dec 2026 10:00:00 GMT"},
     "Tue, 01 Dec 2026 10:00:00 GMT"),  # a weak tag may not go in If-Range
    ({"ETag": 'W/"abc"'}, None),
    ({"ETag": '"abc"', "Accept-Ranges": "none"}, None),
    ({"ETag": '"abc"', "Content-Encoding": "gzip"}, None),
    ({}, None),
])
def test_which_answers_may_be_resumed(headers: dict[str, str], validator: str | None) -> None:
    from scrapers.resume import resume_validator

    assert resume_validator(headers) == validator


@pytest.mark.parametrize(("status", "content_range", "declared", "kept", "expected"), [
    (200, None, 500, 0, 500),
    (206, "bytes 100-499/500", 400, 100, 500),
    (206, "bytes 100-499/500", None, 100, 500),
    (206, "bytes 0-499/500", 500, 100, None),  # does not continue the kept bytes
    (206, "bytes 100-499/*", 400, 100, None),  # no total: the whole cannot be checked
    (206, "bytes 100-499/500", 300, 100, None),  # its length disagrees with its range
    (206, "bytes 100-499/500", 400, 0, None),  # a range nobody asked for
    (206, "junk", 400, 100, None),
])
def test_what_a_ranged_answer_must_say(status: int, content_range: str | None, declared: int | None,
                                       kept: int, expected: int | None) -> None:
    from scrapers.resume import whole_length

    headers = {"Content-Range": content_range} if content_range else {}
    if expected is None:
        with pytest.raises(Problem, match="does not continue"):
            whole_length(status, headers, kept, declared)
    else:
        assert whole_length(status, headers, kept, declared) == expected


def test_a_gate_never_sleeps_out_a_pause_longer_than_its_caller_waits() -> None:
    import asyncio

    from scrapers.limits import HostGate, HostPaused, HostPolicy

    async def scenario() -> float:
        gate = HostGate(HostPolicy("*", 1, float("inf")))
        gate.hold(3600)
        with pytest.raises(HostPaused) as paused:
            async with gate.slot(max_pause=1.0):
                pass
        return paused.value.seconds

    t0 = time.monotonic()
    # a handed-back pause means no real sleep (5 s: generous for a loaded machine)
    assert asyncio.run(scenario()) == pytest.approx(3600, abs=1) and time.monotonic() - t0 < 5
