"""Write a dataset's Hugging Face ``imagefolder`` view: a folder per split with ``metadata.csv``.

Called by the export once ``manifest.json`` is written: it reads the manifest back (so it follows
whatever splits and columns the manifest has) and lays out ``SPLIT/LABEL/SHA256.jpg`` as hard links
to the stored files (symbolic links where the dataset is on another file system), then each
split's ``metadata.csv`` (``pipeline.imagefolder``). Only folders of the splits it writes are
replaced, and only inside a dataset directory the export already claimed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pipeline.errors import CamidError
from pipeline.imagefolder import METADATA, folder_entries, metadata_csv
from pipeline.manifest import Manifest, atomic_write, read_manifest
from pipeline.records import ManifestRow

SPLIT_FOLDERS = ("train", "val", "test")


def write_imagefolder(directory: Path) -> dict[str, int]:
    """Lay out the imagefolder view of the dataset in ``directory``; images per split folder."""
    manifest = read_manifest(directory)
    written: dict[str, int] = {}
    for split in SPLIT_FOLDERS:
        folder = directory / split
        if folder.is_symlink() or folder.is_file():
            raise CamidError(f"{folder} is not a folder camid made: remove it, then export again")
        if folder.exists():
            shutil.rmtree(folder)  # an earlier export's view: its links only
        rows = _rows(manifest, split)
        if not rows:
            continue
        entries = folder_entries(rows)
        try:
            for entry in entries:
                target = folder / entry.file_name
                target.parent.mkdir(parents=True, exist_ok=True)
                _link(manifest.image_path(entry.row), target)
            atomic_write(folder / METADATA, metadata_csv(entries))
        except OSError as exc:
            raise CamidError(f"cannot write {folder}: {exc.strerror or exc}") from None
        written[split] = len(entries)
    return written


def _rows(manifest: Manifest, split: str) -> tuple[ManifestRow, ...]:
    """A split's rows; a manifest without that split (``test`` before format 3) has none."""
    return tuple(getattr(manifest, split, ()) or ())


def _link(source: Path, target: Path) -> None:
    """A hard link (the same file, no copy), else a symbolic one to its absolute path."""
    try:
        os.link(source, target)
    except OSError:
        os.symlink(os.path.abspath(source), target)
