"""Bring your own originals: a local folder of JPEGs, or a text file listing URLs.

Local files become ``file://`` candidates that ``camid download`` copies (verified and hashed
like any download) into content-addressed storage, so every image, whatever its source, goes
through one path. The candidate's camera is the one ``--camera`` named, if exactly one was; the
label still comes from each file's EXIF. Every error here is the user's to fix (a missing
``--path``, a folder or list that is not there): a ``ConfigError``, which no task retries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from pipeline.records import Candidate
from pipeline.registry import Camera
from scrapers.base import Found

JPEG_SUFFIXES = (".jpg", ".jpeg", ".jpe")
MAX_ID = 255


def source_id(text: str) -> str:
    """The text itself when it fits the catalog's column, else a stable digest of it."""
    if len(text) <= MAX_ID:
        return text
    return "sha1:" + hashlib.sha1(text.encode("utf-8")).hexdigest()


def read_url_list(text: str) -> tuple[list[str], int]:
    """http(s) URLs of a list (one per line, ``#`` comments), and how many lines were not URLs."""
    urls, bad = [], 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = urlsplit(line)
        if parts.scheme in ("http", "https") and parts.netloc:
            urls.append(line)
        else:
            bad += 1
    return list(dict.fromkeys(urls)), bad


class DirSource:
    """Candidates from a folder (recursively, ``*.jpg``/``*.jpeg``) and/or a URL list file."""

    name = "dir"

    def __init__(self, folder: Path | None = None, url_list: Path | None = None) -> None:
        if folder is None and url_list is None:
            raise ConfigError("`camid scrape dir` needs --path DIR and/or --url-list FILE")
        self.folder, self.url_list = folder, url_list
        self.not_urls = 0

    @property
    def api_calls(self) -> int:
        return 0

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        camera = cameras[0].id if len(cameras) == 1 else None
        if self.folder is not None:
            yield from self._files(self.folder, camera)
        if self.url_list is not None:
            try:
                text = self.url_list.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read URL list {self.url_list}: {exc.strerror}") from None
            urls, self.not_urls = read_url_list(text)
            for url in urls:
                yield Candidate(source="dir", source_id=source_id(url), url=url, camera=camera)

    def _files(self, folder: Path, camera: str | None) -> Iterator[Found]:
        if not folder.is_dir():
            raise ConfigError(f"not a directory: {folder}")
        for path in sorted(folder.resolve().rglob("*")):
            if path.suffix.lower() in JPEG_SUFFIXES and path.is_file():
                yield Candidate(source="dir", source_id=source_id(str(path)), url=path.as_uri(),
                                camera=camera, expected_bytes=path.stat().st_size)
