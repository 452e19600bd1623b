"""Bring your own originals: a local folder of JPEGs, or a text file listing URLs.

Local files become ``file://`` candidates that ``camid download`` copies (verified and hashed
like any download) into content-addressed storage, so every image, whatever its source, goes
through one path. The candidate's camera is the one ``--camera`` named, if exactly one was; the
label still comes from each file's EXIF. Every error here is the user's to fix (a missing
``--path``, a folder or list that is not there, a list that is not UTF-8 text): a
``ConfigError``, which no task retries. What is left out of a scrape that goes on, a subfolder
that cannot be listed or list lines that are not URLs, is told through ``notice``, never
dropped in silence (``Path.rglob`` would skip an unreadable folder without a word).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.errors import ConfigError
from pipeline.fileio import open_regular
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

    def __init__(self, folder: Path | None = None, url_list: Path | None = None,
                 notice: Callable[[str], None] = print) -> None:
        if folder is None and url_list is None:
            raise ConfigError("`camid scrape dir` needs --path DIR and/or --url-list FILE")
        self.folder, self.url_list, self.notice = folder, url_list, notice
        self.not_urls = 0
        self.unreadable: list[str] = []  # folders whose files could not be listed

    @property
    def api_calls(self) -> int:
        return 0

    def find(self, cameras: Sequence[Camera]) -> Iterator[Found]:
        camera = cameras[0].id if len(cameras) == 1 else None
        if self.folder is not None:
            yield from self._files(self.folder, camera)
        if self.url_list is not None:
            urls, self.not_urls = read_url_list(list_text(self.url_list))
            if self.not_urls:
                self.notice(f"dir: {self.not_urls} line(s) of {self.url_list} are not http(s) URLs; "
                            "they are left out")
            for url in urls:
                yield Candidate(source="dir", source_id=source_id(url), url=url, camera=camera)

    def _files(self, folder: Path, camera: str | None) -> Iterator[Found]:
        if not folder.is_dir():
            raise ConfigError(f"not a directory: {folder}")
        for path in jpeg_files(folder.resolve(), self._cannot_list):
            try:
                size = path.stat().st_size
            except OSError as exc:  # gone or unreadable since it was listed: say so, go on
                self._cannot_list(exc, "it is left out")
                continue
            yield Candidate(source="dir", source_id=source_id(str(path)), url=path.as_uri(),
                            camera=camera, expected_bytes=size)

    def _cannot_list(self, exc: OSError, outcome: str = "its files are left out") -> None:
        where = exc.filename or self.folder
        self.unreadable.append(str(where))
        self.notice(f"dir: cannot read {where}: {exc.strerror or exc}; {outcome}")


def jpeg_files(root: Path, on_error: Callable[[OSError], None]) -> list[Path]:
    """The JPEG files under ``root`` (symlinked files yes, symlinked folders not followed, as
    ``rglob`` did), sorted; a folder that cannot be listed goes to ``on_error``."""
    found = []
    for folder, _dirs, names in os.walk(root, onerror=on_error):
        for name in names:
            path = Path(folder, name)
            if path.suffix.lower() in JPEG_SUFFIXES and path.is_file():
                found.append(path)
    return sorted(found)


def list_text(path: Path) -> str:
    """A URL list's text; one that cannot be read, or is not UTF-8, is the user's to fix."""
    try:
        with open_regular(path) as fh:  # a FIFO given as the list would block a plain open
            data = fh.read()
    except OSError as exc:
        raise ConfigError(f"cannot read URL list {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ConfigError(f"URL list {path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line "
                          f"{line}): save it as UTF-8") from None
