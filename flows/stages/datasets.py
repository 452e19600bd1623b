"""Where ``camid export`` may write, and what it checks before writing.

A dataset directory is camid's only when camid made it: ``mark_dataset_dir`` leaves a marker
file in every directory an export creates, as ``camid demo`` does in its own. An export then
refuses a ``NAME`` that exists unless asked to replace it, and refuses to replace a directory
without the marker (a folder of the user's that happens to have that name) whatever it is
asked: nothing of theirs is overwritten. Datasets exported before the marker existed are
recognised by their ``manifest.json``.

Before anything is written, every stored file the dataset will list is checked to be there and
to hold the content its SHA-256 names, so a dataset never sends training to a missing or
altered file; the first one that is not is named.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pipeline.errors import CamidError
from pipeline.fileio import sha256_problem
from pipeline.records import ExportItem
from pipeline.storage import resolve

MARKER = ".camid-dataset"
HASH_THREADS = 4  # hashing releases the GIL: a few threads keep a disk busy


def claim_dataset_dir(directory: Path, replace: bool) -> None:
    """Refuse ``directory`` unless it is new, or ``replace`` and camid made it."""
    if not directory.exists() and not directory.is_symlink():
        return
    if not made_by_camid(directory):
        raise CamidError(f"{directory} exists and was not made by `camid export` (no {MARKER}): "
                         "camid will not write into it; choose another dataset name")
    if not replace:
        raise CamidError(f"dataset {directory} already exists: pass --replace to export it again, "
                         "or choose another name")


def made_by_camid(directory: Path) -> bool:
    """Whether an export made ``directory``: its marker, or an older export's manifest."""
    if directory.is_symlink() or not directory.is_dir():
        return False
    if (directory / MARKER).is_file():
        return True
    try:
        doc = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(doc, dict) and str(doc.get("format", "")).startswith("camid-manifest/")


def mark_dataset_dir(directory: Path) -> None:
    """Create ``directory`` (if new) with the marker that makes it camid's to replace later."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text("made by `camid export`; `camid export NAME --replace` "
                                        "rewrites it\n", encoding="utf-8")
    except OSError as exc:
        raise CamidError(f"cannot write dataset {directory}: {exc.strerror or exc}") from None


def check_stored(data_dir: Path, items: Sequence[ExportItem]) -> None:
    """Raise naming the first item whose stored file is missing or not its content."""
    def problem(item: ExportItem) -> str | None:
        return sha256_problem(resolve(data_dir, item.path), item.sha256)

    pool = ThreadPoolExecutor(HASH_THREADS)
    try:
        for item, found in zip(items, pool.map(problem, items), strict=True):
            if found is not None:
                raise CamidError(f"cannot export: stored file {resolve(data_dir, item.path)} "
                                 f"(image {item.sha256[:16]}) {found}; nothing was written")
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
