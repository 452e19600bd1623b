"""Content-addressed storage: ``<data-dir>/images/ab/cd/<sha256>.jpg``.

Paths come only from the content's hash, never from a URL or a server-sent name, and files
arrive by atomic rename, so a crash leaves either the whole file or nothing. The catalog stores
paths relative to the data directory, so a data directory can be moved or mounted elsewhere.
"""

from __future__ import annotations

from pathlib import Path


def content_relpath(sha256: str) -> str:
    """Where a file with this hash lives, relative to the data directory."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError(f"not a sha256 hex digest: {sha256!r}")
    return f"images/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"


def resolve(data_dir: Path, stored_path: str) -> Path:
    """The absolute path of a stored file (catalog paths are relative to the data dir)."""
    path = Path(stored_path)
    return path if path.is_absolute() else data_dir / path
