"""Bring your own originals: a folder and a URL list, through the CLI, into storage once."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fakes.cli import camid
from tests.fakes.files import FileHost
from tests.fakes.images import camera_jpeg
from tests.fakes.server import Loopback


@pytest.mark.slow  # five camid processes
def test_folder_and_url_list_into_storage(tmp_path: Path) -> None:
    mine = tmp_path / "mine" / "sub"
    mine.mkdir(parents=True)
    (mine / "a.JPG").write_bytes(camera_jpeg(900))
    (mine / "b.jpeg").write_bytes(camera_jpeg(901))
    (mine / "notes.txt").write_text("not an image")
    files = {"x": camera_jpeg(900), "y": camera_jpeg(902)}  # x: same bytes as a.JPG
    with Loopback(FileHost(files).app()) as server:
        listing = tmp_path / "urls.txt"
        listing.write_text(f"# my URLs\n{server.url('/img/x')}\n{server.url('/img/y')}\nnot-a-url\n")
        by_dir = camid("scrape", "dir", "--path", str(tmp_path / "mine"), "--camera", "iPhone-6",
                       cwd=tmp_path)
        by_list = camid("scrape", "dir", "--url-list", str(listing), cwd=tmp_path)
        again = camid("scrape", "dir", "--path", str(tmp_path / "mine"), cwd=tmp_path)
        fetched = camid("download", "--host-limit", f"{server.host}=2:inf", cwd=tmp_path)
    assert by_dir.returncode == 0 and "2 new candidate(s)" in by_dir.stdout, by_dir.stderr
    assert by_list.returncode == 0 and "2 new candidate(s)" in by_list.stdout, by_list.stderr
    assert "0 new candidate(s)" in again.stdout  # idempotent
    assert fetched.returncode == 0 and "stored 4 file(s)" in fetched.stdout, fetched.stderr
    # stdout is a pipe here, not a terminal: plain progress lines, no rich escapes
    assert "downloading: 0/4\n" in fetched.stdout and "downloading: 4/4\n" in fetched.stdout
    assert "\x1b[" not in fetched.stdout
    stored = list((tmp_path / "data" / "images").rglob("*.jpg"))
    assert len(stored) == 3  # a.JPG and URL x are one image
    stats = json.loads(camid("stats", "--json", cwd=tmp_path).stdout)
    assert stats["totals"]["downloaded"] == 4


def test_dir_needs_a_folder_or_a_list(tmp_path: Path) -> None:
    out = camid("scrape", "dir", cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [
        "camid: error: `camid scrape dir` needs --path DIR and/or --url-list FILE"]
    out = camid("scrape", "dir", "--path", str(tmp_path / "missing"), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [f"camid: error: not a directory: {tmp_path / 'missing'}"]


def test_a_url_list_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_bytes(b"https://example.test/a.jpg\nhttps://example.test/caf\xe9.jpg\n")
    out = camid("scrape", "dir", "--url-list", str(listing), cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [f"camid: error: URL list {listing} is not UTF-8 text (byte "
                                       "0xe9 on line 2): save it as UTF-8"]
    assert out.stdout == ""


def test_a_fifo_as_the_url_list_is_one_line_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "urls.txt"
    os.mkfifo(fifo)
    out = camid("scrape", "dir", "--url-list", str(fifo), cwd=tmp_path, timeout=30)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [f"camid: error: cannot read URL list {fifo}: not a regular "
                                       "file (a FIFO)"]


def test_lines_that_are_not_urls_are_told(tmp_path: Path) -> None:
    listing = tmp_path / "urls.txt"
    listing.write_text("\ufeffhttps://example.test/a.jpg\nftp://example.test/b.jpg\nnot a url\n")
    out = camid("scrape", "dir", "--url-list", str(listing), cwd=tmp_path)
    assert out.returncode == 0 and "1 new candidate(s)" in out.stdout, out.stderr  # BOM or not
    assert out.stderr.splitlines() == [f"dir: 2 line(s) of {listing} are not http(s) URLs; they "
                                       "are left out"]


def test_an_unreadable_subfolder_is_reported_not_skipped_in_silence(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    (mine / "open").mkdir(parents=True)
    (mine / "locked").mkdir()
    (mine / "open" / "a.jpg").write_bytes(camera_jpeg(903))
    (mine / "locked" / "b.jpg").write_bytes(camera_jpeg(904))
    (mine / "locked").chmod(0)
    try:
        out = camid("scrape", "dir", "--path", str(mine), cwd=tmp_path, obey_permissions=True)
    finally:
        (mine / "locked").chmod(0o755)
    assert out.returncode == 0 and "1 new candidate(s)" in out.stdout, out.stderr
    assert out.stderr.splitlines() == [f"dir: cannot read {mine / 'locked'}: Permission denied; "
                                       "its files are left out"]


@pytest.mark.parametrize("how", ["read-only", "a file"])
def test_unwritable_storage_is_one_line_and_no_candidate_fails(tmp_path: Path, how: str) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.jpg").write_bytes(camera_jpeg(905))
    assert camid("scrape", "dir", "--path", str(mine), cwd=tmp_path).returncode == 0
    images = tmp_path / "data" / "images"
    if how == "a file":
        images.write_text("not a folder")
    else:
        images.mkdir()
        images.chmod(0o555)
    try:
        out = camid("download", cwd=tmp_path, obey_permissions=True)
    finally:
        if images.is_dir():
            images.chmod(0o755)
    why = "Permission denied" if how == "read-only" else "it is not a folder"
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [f"camid: error: cannot store downloads in {images}: {why}"]
    stats = json.loads(camid("stats", "--json", cwd=tmp_path).stdout)["totals"]
    assert stats["candidates"] == 1 and stats["downloaded"] == 0 and stats.get("failed", 0) == 0
