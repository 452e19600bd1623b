"""Content-addressed storage: ``<data-dir>/images/ab/cd/<sha256>.jpg``.

Paths come only from the content's hash, never from a URL or a server-sent name, and files
arrive by atomic rename, so a crash leaves either the whole file or nothing. The catalog stores
paths relative to the data directory, so a data directory can be moved or mounted elsewhere.
``prepare_storage`` is where a downloader finds out, once and before it claims anything, that
it cannot write there.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pipeline.errors import ConfigError

PROBE_PREFIX = ".incoming-probe-"  # under the downloader's temporary-file prefix: cleaned alike


def content_relpath(sha256: str) -> str:
    """Where a file with this hash lives, relative to the data directory."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def resolve(data_dir: Path, stored_path: str) -> Path:
    """The absolute path of a stored file (catalog paths are relative to the data dir)."""
    path = Path(stored_path)
    return path if path.is_absolute() else data_dir / path


def prepare_storage(data_dir: Path) -> Path:
    """``<data-dir>/images``, created if need be and shown to take a file; else one clear error.

    Without this, every download of a run would fail alike (a read-only or full mount, a file
    where the folder should be, a folder of another user), each recorded as its own failure.
    """
    images = data_dir / "images"
    try:
        images.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=f"{PROBE_PREFIX}{os.getpid()}-", dir=images)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = "it is not a folder" if images.exists() and not images.is_dir() else (
            exc.strerror or str(exc))
        raise ConfigError(f"cannot store downloads in {images}: {why}") from None
    return images
