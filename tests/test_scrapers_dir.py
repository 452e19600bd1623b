"""Bring your own originals: a folder and a URL list, through the CLI, into storage once."""

from __future__ import annotations

import json
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
