"""Bodies cut short, kept so that the next attempt asks only for the rest (``Range``/``If-Range``).

A body cut short (the connection closed or went silent mid-file) from a server that named a
validator (a strong ETag, or Last-Modified) is *parked* as ``images/.partial/<id>.part``, with a
sidecar ``<id>.json`` holding the URL, the validator, and the size and SHA-256 of the bytes kept.
The part file is made durable before the sidecar is written (atomically), so a sidecar always
describes bytes that are on disk.

The next attempt reads the sidecar (``peek``) to ask for the rest. Only when the server answers
206 does it *take* the body back: the sidecar is removed, the part file renamed to a temporary
name of this process (a crash from here on leaves a temporary file that ``clean_incoming``
removes) and the kept bytes hashed again; they are resumed only when they still match the
sidecar's size and SHA-256 (otherwise that attempt fails and the next starts from nothing). A
200 (the file changed, or ranges are not served) drops them, and a refusal leaves them parked.
A part file is never a stored file: a resumed body goes through every check of a whole download
(its length, the JPEG markers, the source's SHA-1 or size) before it is renamed into storage.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.records import DownloadTask, FailureReason
from scrapers.fetch import SOI, TEMP_PREFIX, FetchOptions, Incoming, Problem, storage_problem

PARTIAL_DIR = ".partial"
MAX_AGE = 7 * 24 * 3600.0  # a part file older than this will not be resumed (its retry came long ago)


@dataclass(frozen=True, slots=True)
class Kept:
    """What a sidecar says of a parked body: its size and digest, and the validator for If-Range."""

    size: int
    sha256: str
    validator: str


class PartialStore:
    """The parked bodies of one data directory's downloads."""

    def __init__(self, opts: FetchOptions) -> None:
        self.opts = opts
        self.images = opts.data_dir / "images"
        self.dir = self.images / PARTIAL_DIR

    def has(self, task: DownloadTask) -> bool:
        """Is a body of ``task`` parked? (two stats: cheap enough for every task)"""
        return self._meta(task).exists() or self._part(task).exists()

    def peek(self, task: DownloadTask) -> Kept | None:
        """The parked body's description, without touching it (None: nothing usable is parked)."""
        try:
            meta = json.loads(self._meta(task).read_bytes())
        except (OSError, ValueError):
            return None
        try:
            if meta["url"] != task.url:
                return None
            return Kept(int(meta["size"]), str(meta["sha256"]), str(meta["validator"]))
        except (KeyError, TypeError, ValueError):
            return None

    def take(self, task: DownloadTask, kept: Kept) -> Incoming:
        """The parked body as an ``Incoming`` to continue; a ``Problem`` when its bytes are no
        longer the ones described (the attempt then ends, and the next one starts over). The
        body leaves the store either way. Runs in a worker thread."""
        try:
            return self._take(task, kept)
        except OSError as exc:
            raise storage_problem(exc) from None

    def _take(self, task: DownloadTask, kept: Kept) -> Incoming:
        self._meta(task).unlink(missing_ok=True)
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".part", dir=self.images)
        os.close(fd)
        path = Path(name)
        try:
            os.replace(self._part(task), path)
            sink = Incoming(self.opts, bool(task.expected_sha1), path)
        except (FileNotFoundError, Problem):
            path.unlink(missing_ok=True)
            raise Problem("the bytes kept from the last attempt are gone: starting over",
                          code=FailureReason.CUT_SHORT) from None
        if (sink.size, sink.sha256.hexdigest(), sink.head) != (kept.size, kept.sha256, SOI):
            with sink:  # closed and removed
                raise Problem("the bytes kept from the last attempt changed on disk: starting over",
                              code=FailureReason.CUT_SHORT)
        return sink

    def park(self, task: DownloadTask, sink: Incoming, validator: str) -> bool:
        """Keep what ``sink`` received for the next attempt; False when there is nothing worth
        keeping or the disk will not take it (then the bytes go as they would have)."""
        if sink.size < len(SOI) or sink.head != SOI:
            return False
        try:
            sink.durable()
            self.dir.mkdir(exist_ok=True)
            os.replace(sink.path, self._part(task))
            meta = {"url": task.url, "validator": validator, "size": sink.size,
                    "sha256": sink.sha256.hexdigest()}
            self._write_meta(task, json.dumps(meta).encode())
        except OSError:
            self.discard(task)
            return False
        return True

    def discard(self, task: DownloadTask) -> None:
        """Forget a parked body (its URL succeeded, or was given up)."""
        self._part(task).unlink(missing_ok=True)
        self._meta(task).unlink(missing_ok=True)

    def _name(self, task: DownloadTask) -> str:
        key = f"{task.key.source}\0{task.key.source_id}\0{task.url}".encode()
        return hashlib.sha256(key).hexdigest()[:40]

    def _part(self, task: DownloadTask) -> Path:
        return self.dir / f"{self._name(task)}.part"

    def _meta(self, task: DownloadTask) -> Path:
        return self.dir / f"{self._name(task)}.json"

    def _write_meta(self, task: DownloadTask, body: bytes) -> None:
        """Write the sidecar whole or not at all (a temporary file renamed over it)."""
        fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", suffix=".json", dir=self.dir)
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            if self.opts.fsync:
                os.fsync(out.fileno())
        os.replace(name, self._meta(task))


def clean_partials(data_dir: Path, max_age: float = MAX_AGE) -> int:
    """Remove parked bodies (and stray sidecar temporaries) older than ``max_age`` seconds."""
    folder = data_dir / "images" / PARTIAL_DIR
    if not folder.is_dir():
        return 0
    removed = 0
    for path in folder.iterdir():
        try:
            if time.time() - path.stat().st_mtime > max_age:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
