"""Fetching one candidate into content-addressed storage, verified, or saying exactly why not.

The body streams into a temporary file beside storage (``images/.incoming-<pid>-*``) while it
is hashed; then Content-Length, the content type, the JPEG start and end markers and the
source's SHA-1 or size are checked (the end marker is the main image's, found by following the
scan when the file does not simply end with it: cameras append long trailers), and only a file
that passes is renamed (atomically) to
``images/ab/cd/<sha256>.jpg``. Names come from the hash alone, never from a URL or a server-sent
name; a file already stored is found by its hash and not written twice. Every outcome is a
typed result: a ``Download``, a ``CandidateSkip`` (X-Robots-Tag opt-out), or a
``DownloadFailure`` that is transient (a retry time) or permanent (none).
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.jpeg_segments import JpegStructureError, read_header
from pipeline.records import CandidateSkip, Download, DownloadDeferral, DownloadFailure, DownloadTask
from pipeline.scan import walk_scan
from pipeline.storage import content_relpath
from scrapers.retry import backoff_delay

SOI, EOI = b"\xff\xd8\xff", b"\xff\xd9"
TEMP_PREFIX = ".incoming-"
TAIL = 64 * 1024
_OWN_TEMP = re.compile(r"^\.incoming-(\d+)-")

Result = Download | DownloadFailure | CandidateSkip | DownloadDeferral


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits and checks of one fetch; tests shrink the timeouts and the backoff."""

    data_dir: Path
    max_bytes: int = 64 << 20
    connect_timeout: float = 15.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    backoff_base: float = 30.0
    backoff_cap: float = 6 * 3600.0
    max_redirects: int = 5
    total_timeout: float = 900.0
    fsync: bool = True


class Problem(Exception):
    """Why a fetch failed; ``permanent`` ones are not retried, ``retry_after`` is a server's wish."""

    def __init__(self, error: str, permanent: bool = False, retry_after: float | None = None) -> None:
        super().__init__(error)
        self.error, self.permanent, self.retry_after = error, permanent, retry_after


def failure(task: DownloadTask, problem: Problem, opts: FetchOptions, now: datetime) -> DownloadFailure:
    """A failure with its next attempt time, or permanent once the attempts are used up."""
    attempts = task.attempts + 1
    if problem.permanent:
        return DownloadFailure(task.key, problem.error, None)
    if attempts >= opts.max_attempts:
        return DownloadFailure(task.key, f"{problem.error} (gave up after {attempts} attempts)", None)
    delay = problem.retry_after
    if delay is None:
        delay = backoff_delay(task.attempts, opts.backoff_base, opts.backoff_cap)
    return DownloadFailure(task.key, problem.error, now + timedelta(seconds=delay))


def not_jpeg(head: bytes) -> Problem:
    """No JPEG start marker: an HTML body (an error page served as 200) may be retried, else not."""
    html = head.lstrip()[:1] == b"<"
    return Problem("not a JPEG (no start-of-image marker" + (", an HTML page)" if html else ")"),
                   permanent=not html)


class Incoming:
    """A temporary file being received: hashed and checked as it grows, then stored or dropped."""

    def __init__(self, opts: FetchOptions, want_sha1: bool) -> None:
        self.opts = opts
        images = opts.data_dir / "images"
        images.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".part", dir=images)
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb")
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1() if want_sha1 else None
        self.size = 0
        self.head = b""
        self.tail = b""

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.file.closed:
            self.file.close()
        self.path.unlink(missing_ok=True)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.opts.max_bytes:
            raise Problem(f"body larger than the {self.opts.max_bytes} byte cap", permanent=True)
        if len(self.head) < len(SOI):
            self.head = (self.head + chunk)[:len(SOI)]
            if len(self.head) == len(SOI) and self.head != SOI:
                raise not_jpeg(self.head)
        self.sha256.update(chunk)
        if self.sha1 is not None:
            self.sha1.update(chunk)
        self.file.write(chunk)
        self.tail = chunk[-TAIL:] if len(chunk) >= TAIL else (self.tail + chunk)[-TAIL:]

    def verify(self, task: DownloadTask, declared: int | None) -> None:
        """Raise ``Problem`` unless the whole, untampered JPEG arrived."""
        if self.size == 0:
            raise Problem("empty body")
        if declared is not None and self.size != declared:
            raise Problem(f"truncated: {self.size} of {declared} bytes")
        if self.head != SOI:
            raise not_jpeg(self.head)
        if task.expected_bytes is not None and self.size != task.expected_bytes:
            raise Problem(f"size {self.size} differs from the source's {task.expected_bytes}")
        if self.sha1 is not None and self.sha1.hexdigest() != task.expected_sha1:
            raise Problem("SHA-1 differs from the source's")
        complete = declared is not None or task.expected_bytes is not None or self.sha1 is not None
        quick = self.tail.rstrip(b"\x00").endswith(EOI) or (complete and EOI in self.tail)
        if not quick and not self._main_image_ends():
            if self.sha1 is not None:  # the source's own checksum matched: its file is cut short
                raise Problem("truncated at the source: no JPEG end-of-image marker, yet SHA-1 matches",
                              permanent=True)
            raise Problem("no JPEG end-of-image marker (truncated?)")

    def _main_image_ends(self) -> bool:
        """Does the main image end with EOI, however long the trailer after it? (A camera's MPF
        previews and vendor blocks run past the 64 KB tail: follow the scan, as curation does.)"""
        self.file.flush()
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            try:
                return walk_scan(buf, read_header(buf)).has_eoi
            except JpegStructureError:
                return False

    def commit(self, task: DownloadTask, content_type: str | None) -> Download:
        """fsync, then rename into storage (or drop the copy: that content is already stored)."""
        self.file.flush()
        if self.opts.fsync:
            os.fsync(self.file.fileno())
        self.file.close()
        sha256 = self.sha256.hexdigest()
        relpath = content_relpath(sha256)
        target = self.opts.data_dir / relpath
        if target.exists() and target.stat().st_size == self.size:
            self.path.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, target)
        return Download(task.key, sha256, relpath, self.size, content_type)


def fetch_local(task: DownloadTask, opts: FetchOptions) -> Result:
    """Copy a ``file://`` candidate through the same checks (runs in a worker thread)."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    try:
        path = Path(url2pathname(urlsplit(task.url).path))
        with Incoming(opts, bool(task.expected_sha1)) as sink:
            try:
                with open(path, "rb") as source:
                    while block := source.read(1 << 20):
                        sink.write(block)
            except OSError as exc:
                raise Problem(f"cannot read file: {exc.strerror or exc}", permanent=True) from None
            sink.verify(task, None)
            return sink.commit(task, "image/jpeg")
    except Problem as problem:
        return failure(task, problem, opts, datetime.now(UTC))


def clean_incoming(data_dir: Path, alive: Callable[[int], bool], stale_after: float = 3600.0) -> int:
    """Remove temporary files of dead downloaders (and anonymous ones older than an hour)."""
    images = data_dir / "images"
    if not images.is_dir():
        return 0
    removed = 0
    for path in images.glob(f"{TEMP_PREFIX}*"):
        match = _OWN_TEMP.match(path.name)
        try:
            stale = (not alive(int(match[1]))) if match else \
                time.time() - path.stat().st_mtime > stale_after
            if stale:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
