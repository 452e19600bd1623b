"""The dataset manifest format: the one contract between curation and training.

A dataset directory holds ``train.csv``, ``val.csv``, ``test.csv`` (columns ``MANIFEST_COLUMNS``)
and ``manifest.json``. Relative image paths are relative to the dataset directory, so a whole data
directory can be moved or mounted elsewhere. ``manifest.json`` is written last and carries a hash
of the rows: a reader refuses a dataset whose CSVs do not match it, so a crash half-way through an
export can never be trained on. Same inputs give byte-identical files (no timestamps inside).

Format 2 added the columns that say what the catalog knows of each file (EXIF make and model,
pixel size, chroma subsampling), so training never reads a file's headers; a format-1 dataset
still loads, its rows with those fields None.

Format 3 added the test split (``test.csv``: devices training never saw, ``pipeline.split``) and
the ``device`` column (the hashed device key). Format 1 and 2 datasets still load, with no test
rows and ``device`` None; their rows hash covers the two splits they had, so it still verifies.

Format 4 added ``heldout.csv``: the accepted files of cameras held out of the classes entirely
(``camid export --hold-out``), labelled with their own registry id, so ``camid evaluate`` can
measure how well a model says "unknown camera" on models it never saw. Training never reads it.
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
from pipeline.records import ExportSummary, ManifestRow

FORMAT = "camid-manifest/4"
MANIFEST_COLUMNS = tuple(f.name for f in fields(ManifestRow))
SPLITS = ("train", "val", "test", "heldout")
# the CSV columns of each format a reader accepts (format 1: attribution only; 2: no device)
COLUMNS_OF_FORMAT = {
    "camid-manifest/1": ("path", "sha256", "label", "source", "uploader", "licence", "attribution_url"),
    "camid-manifest/2": tuple(c for c in MANIFEST_COLUMNS if c != "device"),
    "camid-manifest/3": MANIFEST_COLUMNS,
    FORMAT: MANIFEST_COLUMNS,
}
# the splits each format has (and its rows hash covers)
SPLITS_OF_FORMAT = {"camid-manifest/1": ("train", "val"), "camid-manifest/2": ("train", "val"),
                    "camid-manifest/3": ("train", "val", "test"), FORMAT: SPLITS}


@dataclass(frozen=True, slots=True)
class Manifest:
    """A dataset as training sees it: classes, rows per split, and what produced it.

    ``test`` is empty for a dataset of format 1 or 2 (they had no test split), ``heldout`` for
    one before format 4 or exported without ``--hold-out``. Its labels are not in ``classes``.
    """

    directory: Path
    name: str
    classes: tuple[str, ...]
    train: tuple[ManifestRow, ...]
    val: tuple[ManifestRow, ...]
    registry_hash: str
    policy_hash: str
    seed: int
    rows_sha256: str
    test: tuple[ManifestRow, ...] = ()
    format: str = FORMAT
    heldout: tuple[ManifestRow, ...] = ()

    def image_path(self, row: ManifestRow) -> Path:
        """Absolute path of a row's image (relative paths are relative to the dataset dir)."""
        path = Path(row.path)
        return path if path.is_absolute() else self.directory / path

    def splits(self) -> dict[str, tuple[ManifestRow, ...]]:
        """The rows of each split this dataset's format has, by name."""
        return {split: getattr(self, split) for split in SPLITS_OF_FORMAT[self.format]}

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split and class (classes in sorted order), as ``manifest.json`` has them."""
        return {split: dict(sorted(Counter(r.label for r in rows).items()))
                for split, rows in self.splits().items()}

    def summary(self) -> ExportSummary:
        """What the catalog remembers of this dataset's export."""
        return ExportSummary(rows_sha256=self.rows_sha256, registry_hash=self.registry_hash,
                             policy_hash=self.policy_hash, seed=self.seed,
                             counts_json=json.dumps(self.counts(), sort_keys=True))


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
    test: tuple[ManifestRow, ...] = (),
    heldout: tuple[ManifestRow, ...] = (),
) -> Manifest:
    """Write the CSVs of every split, then ``manifest.json`` (atomically, last); return what was written.

    The returned ``Manifest`` is the one ``read_manifest(directory)`` gives (rows as the CSVs
    hold them), so a caller can report on the dataset without reading it back. ``extra`` adds
    informative keys (how the split was made); it cannot replace the core keys. ``test`` may be
    empty (a dataset without a test split): ``test.csv`` is then a header only; so may ``heldout``.
    """
    directory.mkdir(parents=True, exist_ok=True)
    parts = (train, val, test, heldout)
    texts = {split: rows_to_csv(rows) for split, rows in zip(SPLITS, parts, strict=True)}
    for split, text in texts.items():
        atomic_write(directory / f"{split}.csv", text)
    parsed = {split: _parse_rows(text, MANIFEST_COLUMNS) for split, text in texts.items()}
    written = Manifest(directory=directory, name=name, classes=classes, train=parsed["train"],
                       val=parsed["val"], test=parsed["test"], heldout=parsed["heldout"],
                       registry_hash=registry_hash,
                       policy_hash=policy_hash, seed=seed, rows_sha256=_rows_hash(texts, SPLITS))
    doc = {**(extra or {}), **_document(written)}
    atomic_write(directory / "manifest.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return written


def _document(manifest: Manifest) -> dict[str, object]:
    """The core keys of ``manifest.json``."""
    return {
        "format": manifest.format,
        "name": manifest.name,
        "classes": list(manifest.classes),
        "registry_hash": manifest.registry_hash,
        "policy_hash": manifest.policy_hash,
        "seed": manifest.seed,
        "counts": manifest.counts(),
        "files": {split: f"{split}.csv" for split in SPLITS_OF_FORMAT[manifest.format]},
        "rows_sha256": manifest.rows_sha256,
    }


def read_manifest(directory: str | os.PathLike[str]) -> Manifest:
    """Load and verify a dataset directory; raise ``CamidError`` on anything inconsistent."""
    root = Path(directory)
    try:
        doc = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CamidError(f"{root}: no manifest.json (not a camid dataset, or export unfinished)") from None
    except (OSError, ValueError) as exc:
        raise CamidError(f"{root / 'manifest.json'}: unreadable: {exc}") from None
    columns = COLUMNS_OF_FORMAT.get(doc.get("format"))
    if columns is None:
        raise CamidError(f"{root}: unsupported manifest format {doc.get('format')!r}")
    splits = SPLITS_OF_FORMAT[doc["format"]]
    files = doc.get("files") or {}
    if any(s not in files for s in splits):
        raise CamidError(f"{root}: manifest.json names no CSV for each of {', '.join(splits)}")
    texts = {s: _read_text(root / files[s]) for s in splits}
    if _rows_hash(texts, splits) != doc["rows_sha256"]:
        raise CamidError(f"{root}: CSV files do not match manifest.json (rows hash differs)")
    rows = {s: _parse_rows(texts[s], columns) for s in splits}
    return Manifest(
        directory=root,
        name=doc["name"],
        classes=tuple(doc["classes"]),
        train=rows["train"],
        val=rows["val"],
        test=rows.get("test", ()),
        heldout=rows.get("heldout", ()),
        registry_hash=doc["registry_hash"],
        policy_hash=doc["policy_hash"],
        seed=int(doc["seed"]),
        rows_sha256=doc["rows_sha256"],
        format=doc["format"],
    )


def _parse_rows(text: str, columns: tuple[str, ...]) -> tuple[ManifestRow, ...]:
    """Rows of a CSV with exactly ``columns``; columns a format lacks keep their default None."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise CamidError(f"manifest CSV columns {reader.fieldnames} != {list(columns)}")
    try:
        return tuple(ManifestRow(**_row_fields(r)) for r in reader)
    except ValueError as exc:
        raise CamidError(f"manifest CSV: bad value: {exc}") from None


def _row_fields(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row's values as ``ManifestRow`` takes them: optional columns empty means None."""
    return {k: _value(k, v) for k, v in row.items()}


def _value(column: str, text: str) -> Any:
    if column in _OPTIONAL_INT:
        return int(text) if text else None
    return (text or None) if column in _OPTIONAL else text


_OPTIONAL = {"uploader", "licence", "attribution_url", "make", "model", "subsampling", "device"}
_OPTIONAL_INT = {"width", "height"}


def _rows_hash(texts: Mapping[str, str], splits: tuple[str, ...]) -> str:
    """One digest of the CSV texts of ``splits`` (a format's own splits, in its order)."""
    digest = hashlib.sha256()
    for split in splits:
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
