"""The dataset manifest format: the one contract between curation and training.

A dataset directory holds ``train.csv``, ``val.csv`` (columns ``MANIFEST_COLUMNS``) and
``manifest.json``. Relative image paths are relative to the dataset directory, so a whole data
directory can be moved or mounted elsewhere. ``manifest.json`` is written last and carries a hash
of the rows: a reader refuses a dataset whose CSVs do not match it, so a crash half-way through an
export can never be trained on. Same inputs give byte-identical files (no timestamps inside).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.errors import CamidError
from pipeline.records import ManifestRow

FORMAT = "camid-manifest/1"
MANIFEST_COLUMNS = tuple(f.name for f in fields(ManifestRow))
SPLITS = ("train", "val")


@dataclass(frozen=True, slots=True)
class Manifest:
    """A dataset as training sees it: classes, rows per split, and what produced it."""

    directory: Path
    name: str
    classes: tuple[str, ...]
    train: tuple[ManifestRow, ...]
    val: tuple[ManifestRow, ...]
    registry_hash: str
    policy_hash: str
    seed: int
    rows_sha256: str

    def image_path(self, row: ManifestRow) -> Path:
        """Absolute path of a row's image (relative paths are relative to the dataset dir)."""
        path = Path(row.path)
        return path if path.is_absolute() else self.directory / path


def rows_to_csv(rows: tuple[ManifestRow, ...]) -> str:
    """CSV text of rows, with a header and ``\\n`` line ends on every platform."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for row in rows:
        writer.writerow(["" if getattr(row, c) is None else getattr(row, c) for c in MANIFEST_COLUMNS])
    return buf.getvalue()


def write_manifest(
    directory: Path,
    name: str,
    classes: tuple[str, ...],
    train: tuple[ManifestRow, ...],
    val: tuple[ManifestRow, ...],
    registry_hash: str,
    policy_hash: str,
    seed: int,
    extra: Mapping[str, object] | None = None,
) -> Path:
    """Write the two CSVs, then ``manifest.json`` (atomically, last). Returns its path.

    ``extra`` adds informative keys (how the split was made); it cannot replace the core keys.
    """
    directory.mkdir(parents=True, exist_ok=True)
    texts = {split: rows_to_csv(rows) for split, rows in (("train", train), ("val", val))}
    for split, text in texts.items():
        atomic_write(directory / f"{split}.csv", text)
    counts = {split: dict(sorted(Counter(r.label for r in rows).items())) for split, rows in
              (("train", train), ("val", val))}
    doc = {
        "format": FORMAT,
        "name": name,
        "classes": list(classes),
        "registry_hash": registry_hash,
        "policy_hash": policy_hash,
        "seed": seed,
        "counts": counts,
        "files": {split: f"{split}.csv" for split in SPLITS},
        "rows_sha256": _rows_hash(texts),
    }
    doc = {**(extra or {}), **doc}
    target = directory / "manifest.json"
    atomic_write(target, json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return target


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Load and verify a dataset directory; raise ``CamidError`` on anything inconsistent."""
    root = Path(directory)
    try:
        doc = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CamidError(f"{root}: no manifest.json (not a camid dataset, or export unfinished)") from None
    except (OSError, ValueError) as exc:
        raise CamidError(f"{root / 'manifest.json'}: unreadable: {exc}") from None
    if doc.get("format") != FORMAT:
        raise CamidError(f"{root}: unsupported manifest format {doc.get('format')!r}")
    texts = {s: _read_text(root / doc["files"][s]) for s in SPLITS}
    if _rows_hash(texts) != doc["rows_sha256"]:
        raise CamidError(f"{root}: CSV files do not match manifest.json (rows hash differs)")
    return Manifest(
        directory=root,
        name=doc["name"],
        classes=tuple(doc["classes"]),
        train=_parse_rows(texts["train"]),
        val=_parse_rows(texts["val"]),
        registry_hash=doc["registry_hash"],
        policy_hash=doc["policy_hash"],
        seed=int(doc["seed"]),
        rows_sha256=doc["rows_sha256"],
    )


def _parse_rows(text: str) -> tuple[ManifestRow, ...]:
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != MANIFEST_COLUMNS:
        raise CamidError(f"manifest CSV columns {reader.fieldnames} != {list(MANIFEST_COLUMNS)}")
    return tuple(ManifestRow(**_row_fields(r)) for r in reader)


def _row_fields(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row's values as ``ManifestRow`` takes them: optional columns empty means None."""
    return {k: (v or None) if k in _OPTIONAL else v for k, v in row.items()}


_OPTIONAL = {"uploader", "licence", "attribution_url"}


def _rows_hash(texts: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        digest.update(split.encode() + b"\0" + texts[split].encode() + b"\0")
    return digest.hexdigest()


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CamidError(f"{path}: unreadable: {exc}") from None


def atomic_write(path: Path, text: str) -> None:
    """Write beside the target and rename over it, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
