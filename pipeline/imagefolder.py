"""A dataset in the Hugging Face ``imagefolder`` layout, beside camid's own manifest.

``datasets.load_dataset("imagefolder", data_dir=DATASET_DIR)`` reads a folder per split (``train/``,
``val/`` -> ``validation``, ``test/``), each with the split's images and a ``metadata.csv`` whose
``file_name`` column names an image relative to it and whose other columns become the dataset's
features. camid writes that layout with links to its stored files (no copy), so a dataset made
here loads anywhere without camid. The columns are the manifest's (all of ``ManifestRow`` but its
path), so they follow the manifest format as it grows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from pipeline.records import ManifestRow

METADATA = "metadata.csv"
COLUMNS = ("file_name", *(f.name for f in fields(ManifestRow) if f.name != "path"))


@dataclass(frozen=True, slots=True)
class FolderEntry:
    """One image of a split's folder: its name there (``file_name``) and its manifest row."""

    file_name: str
    row: ManifestRow


def folder_entries(rows: Sequence[ManifestRow]) -> tuple[FolderEntry, ...]:
    """``LABEL/SHA256.jpg`` per row: a folder per class, a name no two files share."""
    return tuple(FolderEntry(f"{_safe(row.label)}/{row.sha256}.jpg", row) for row in rows)


def metadata_csv(entries: Sequence[FolderEntry]) -> str:
    """The split's ``metadata.csv``: ``file_name`` first, then the manifest's columns."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for entry in entries:
        values: Mapping[str, object] = {c: getattr(entry.row, c) for c in COLUMNS[1:]}
        writer.writerow([entry.file_name, *("" if values[c] is None else values[c] for c in COLUMNS[1:])])
    return buf.getvalue()


def _safe(label: str) -> str:
    """A label as one folder name (registry ids are already plain: this only guards)."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in label).strip(".")
    return cleaned or "_"
