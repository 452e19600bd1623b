"""Fetching one candidate into content-addressed storage, verified, or saying exactly why not.

The body streams into a temporary file beside storage (``images/.incoming-<pid>-*``) while it
is hashed; then Content-Length, the content type, the JPEG start and end markers and the
source's SHA-1 or size are checked (the end marker is the main image's, found by following the
scan when the file does not simply end with it: cameras append long trailers), and only a file
that passes is renamed (atomically) to
``images/ab/cd/<sha256>.jpg``. Names come from the hash alone, never from a URL or a server-sent
name; a file already stored is found by its hash and not written twice. Every outcome is a
typed result: a ``Download``, a ``CandidateSkip`` (X-Robots-Tag opt-out), or a
``DownloadFailure`` that is transient (a retry time) or permanent (none), with a code
(``FailureReason``). The same code failing again and again is capped on its own: the same wrong
bytes twice (a SHA-1 or size that differs from the source's) will not change on a third try. A
full disk is ours, not the URL's: it is always retried and uses up none of the URL's attempts.
A body cut short may be resumed (``scrapers.partial``): ``Incoming`` then starts from the bytes
kept, hashing them again, and checks the whole file as if it had come in one piece.
"""

from __future__ import annotations

import contextlib
import errno
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
from typing import BinaryIO

from pipeline.jpeg_segments import JpegStructureError, read_header
from pipeline.records import (
    CandidateSkip,
    Download,
    DownloadDeferral,
    DownloadFailure,
    DownloadTask,
    FailureReason,
)
from pipeline.scan import walk_scan
from pipeline.storage import content_relpath
from scrapers.retry import backoff_delay

SOI, EOI = b"\xff\xd8\xff", b"\xff\xd9"
TEMP_PREFIX = ".incoming-"
TAIL = 64 * 1024
_OWN_TEMP = re.compile(r"^\.incoming-(\d+)-")

Result = Download | DownloadFailure | CandidateSkip | DownloadDeferral
Code = FailureReason
# attempts in a row that may end with the same code before the URL is given up (others: max_attempts)
SAME_REASON_CAP = {Code.SHA1_MISMATCH: 2, Code.SIZE_MISMATCH: 2, Code.NO_EOI: 2}
FULL_DISK = frozenset({errno.ENOSPC, errno.EDQUOT})


def open_for_writing(fd: int) -> BinaryIO:
    """The storage boundary: a temporary file's descriptor as the file its bytes are written to."""
    return os.fdopen(fd, "wb")


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """Limits and checks of one fetch; tests shrink the timeouts and the backoff, and may pass an
    ``open_part`` whose files fail as a full disk does."""

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
    open_part: Callable[[int], BinaryIO] = open_for_writing


class Problem(Exception):
    """Why a fetch failed; ``permanent`` ones are not retried, ``retry_after`` is a server's wish."""

    def __init__(self, error: str, permanent: bool = False, retry_after: float | None = None,
                 code: FailureReason = Code.OTHER) -> None:
        super().__init__(error)
        self.error, self.permanent, self.retry_after, self.code = error, permanent, retry_after, code


def failure(task: DownloadTask, problem: Problem, opts: FetchOptions, now: datetime) -> DownloadFailure:
    """A failure with its next attempt time, or permanent: by nature, once the same code has
    ended its cap of attempts in a row, or once the attempts are used up."""
    code = problem.code
    if code is Code.DISK_FULL:  # our disk, not the URL: always retried, no attempt used up
        wait = backoff_delay(task.streak if task.last_code == code else 0, opts.backoff_base,
                             opts.backoff_cap)
        return DownloadFailure(task.key, problem.error, now + timedelta(seconds=wait), code, False)
    attempts = task.attempts + 1
    if problem.permanent:
        return DownloadFailure(task.key, problem.error, None, code)
    streak = task.streak + 1 if task.last_code == code else 1
    if streak >= SAME_REASON_CAP.get(code, opts.max_attempts + 1):
        return DownloadFailure(task.key, f"{problem.error} (gave up: {streak} attempts in a row)",
                               None, code)
    if attempts >= opts.max_attempts:
        return DownloadFailure(task.key, f"{problem.error} (gave up after {attempts} attempts)", None,
                               code)
    delay = problem.retry_after
    if delay is None:
        delay = backoff_delay(task.attempts, opts.backoff_base, opts.backoff_cap)
    return DownloadFailure(task.key, problem.error, now + timedelta(seconds=delay), code)


def not_jpeg(head: bytes) -> Problem:
    """No JPEG start marker: an HTML body (an error page served as 200) may be retried, else not."""
    html = head.lstrip()[:1] == b"<"
    return Problem("not a JPEG (no start-of-image marker" + (", an HTML page)" if html else ")"),
                   permanent=not html, code=Code.NOT_JPEG)


def storage_problem(exc: OSError) -> Problem:
    """An error writing our own storage: a full disk (retried, never the URL's fault) or another."""
    what = exc.strerror or type(exc).__name__
    if exc.errno in FULL_DISK:
        return Problem(f"the disk is full ({what}): retried once there is room", code=Code.DISK_FULL)
    return Problem(f"cannot write to storage ({what})", code=Code.STORAGE)


class Incoming:
    """A temporary file being received: hashed and checked as it grows, then stored or dropped.

    ``prefix`` is a temporary file of this process holding bytes kept from an earlier attempt:
    they are hashed again and the body continues after them.
    """

    def __init__(self, opts: FetchOptions, want_sha1: bool, prefix: Path | None = None) -> None:
        self.opts = opts
        self.sha256 = hashlib.sha256()
        self.sha1 = hashlib.sha1() if want_sha1 else None
        self.size = 0
        self.head = b""
        self.tail = b""
        try:
            if prefix is None:
                images = opts.data_dir / "images"
                images.mkdir(parents=True, exist_ok=True)
                fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".part",
                                            dir=images)
                self.path = Path(name)
            else:
                self.path, fd = prefix, os.open(prefix, os.O_RDWR)
            self.file = opts.open_part(fd)
            if prefix is not None:
                self._take_prefix()
        except OSError as exc:
            raise storage_problem(exc) from None

    def __enter__(self) -> Incoming:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.file.closed:
            with contextlib.suppress(OSError):  # a buffer a full disk would not take: it goes too
                self.file.close()
        self.path.unlink(missing_ok=True)

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.opts.max_bytes:
            raise Problem(f"body larger than the {self.opts.max_bytes} byte cap", permanent=True,
                          code=Code.TOO_BIG)
        if len(self.head) < len(SOI):
            self.head = (self.head + chunk)[:len(SOI)]
            if len(self.head) == len(SOI) and self.head != SOI:
                raise not_jpeg(self.head)
        self.sha256.update(chunk)
        if self.sha1 is not None:
            self.sha1.update(chunk)
        try:
            self.file.write(chunk)
        except OSError as exc:
            raise storage_problem(exc) from None
        self.tail = chunk[-TAIL:] if len(chunk) >= TAIL else (self.tail + chunk)[-TAIL:]

    def _take_prefix(self) -> None:
        """Hash the kept bytes as if they had just arrived, and write on after them."""
        with open(self.path, "rb") as kept:
            while block := kept.read(1 << 20):
                self.size += len(block)
                self.head = (self.head + block)[:len(SOI)] if len(self.head) < len(SOI) else self.head
                self.sha256.update(block)
                if self.sha1 is not None:
                    self.sha1.update(block)
                self.tail = (self.tail + block)[-TAIL:]
        self.file.seek(0, os.SEEK_END)

    def verify(self, task: DownloadTask, declared: int | None) -> None:
        """Raise ``Problem`` unless the whole, untampered JPEG arrived."""
        if self.size == 0:
            raise Problem("empty body", code=Code.CUT_SHORT)
        if declared is not None and self.size != declared:
            raise Problem(f"truncated: {self.size} of {declared} bytes", code=Code.CUT_SHORT)
        if self.head != SOI:
            raise not_jpeg(self.head)
        if task.expected_bytes is not None and self.size != task.expected_bytes:
            raise Problem(f"size {self.size} differs from the source's {task.expected_bytes}",
                          code=Code.SIZE_MISMATCH)
        if self.sha1 is not None and self.sha1.hexdigest() != task.expected_sha1:
            raise Problem("SHA-1 differs from the source's", code=Code.SHA1_MISMATCH)
        complete = declared is not None or task.expected_bytes is not None or self.sha1 is not None
        quick = self.tail.rstrip(b"\x00").endswith(EOI) or (complete and EOI in self.tail)
        if not quick and not self._main_image_ends():
            if self.sha1 is not None:  # the source's own checksum matched: its file is cut short
                raise Problem("truncated at the source: no JPEG end-of-image marker, yet SHA-1 matches",
                              permanent=True, code=Code.NO_EOI)
            raise Problem("no JPEG end-of-image marker (truncated?)", code=Code.NO_EOI)

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
        try:
            return self._commit(task, content_type)
        except OSError as exc:
            raise storage_problem(exc) from None

    def durable(self) -> None:
        """Flush (and fsync, unless the options say not to) and close the file."""
        self.file.flush()
        if self.opts.fsync:
            os.fsync(self.file.fileno())
        self.file.close()

    def _commit(self, task: DownloadTask, content_type: str | None) -> Download:
        self.durable()
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
    """Copy a ``file://`` candidate through the same checks (runs in a worker thread).

    An error reading the source is the file's (permanent); one writing storage is ours."""
    from urllib.parse import urlsplit
    from urllib.request import url2pathname

    try:
        path = Path(url2pathname(urlsplit(task.url).path))
        with Incoming(opts, bool(task.expected_sha1)) as sink:
            try:
                source = open(path, "rb")  # noqa: SIM115 (closed below, read errors told apart)
            except OSError as exc:
                raise _unreadable(exc) from None
            with source:
                while block := _read(source):
                    sink.write(block)
            sink.verify(task, None)
            return sink.commit(task, "image/jpeg")
    except Problem as problem:
        return failure(task, problem, opts, datetime.now(UTC))


def _read(source: BinaryIO) -> bytes:
    try:
        return source.read(1 << 20)
    except OSError as exc:
        raise _unreadable(exc) from None


def _unreadable(exc: OSError) -> Problem:
    return Problem(f"cannot read file: {exc.strerror or exc}", permanent=True, code=Code.UNREADABLE)


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
