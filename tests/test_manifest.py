"""The manifest format that connects curation to training."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.errors import CamidError
from pipeline.export_rows import export_item, manifest_row
from pipeline.manifest import MANIFEST_COLUMNS, Manifest, read_manifest, write_manifest
from pipeline.records import AcceptedImage, ManifestRow


def rows(label: str, n: int, start: int = 0) -> tuple[ManifestRow, ...]:
    return tuple(
        ManifestRow(path=f"../../images/{i:02x}/{i:064x}.jpg", sha256=f"{i:064x}", label=label,
                    source="flickr", uploader=f"user, {i}" if i % 2 else None,
                    licence="CC BY 2.0", attribution_url=f"https://example.test/{i}",
                    make="Apple" if label == "iPhone-6" else "SONY",
                    model="iPhone 6" if label == "iPhone-6" else "NEX-7",
                    width=3264 + i, height=2448, subsampling="4:2:0" if i % 3 else None)
        for i in range(start, start + n)
    )


def write(directory: Path) -> Manifest:
    train = rows("iPhone-6", 3) + rows("Sony-NEX-7", 2, 10)
    val = rows("iPhone-6", 1, 20) + rows("Sony-NEX-7", 1, 30)
    return write_manifest(directory, "demo", ("iPhone-6", "Sony-NEX-7"), train, val,
                          registry_hash="r" * 64, policy_hash="p" * 64, seed=7)


def test_round_trip(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    manifest = read_manifest(tmp_path / "ds")
    assert manifest.classes == ("iPhone-6", "Sony-NEX-7")
    assert len(manifest.train) == 5 and len(manifest.val) == 2
    assert manifest.train[1].uploader == "user, 1"  # commas survive CSV quoting
    assert manifest.train[0].uploader is None
    assert manifest.seed == 7
    assert manifest.image_path(manifest.train[0]) == tmp_path / "ds" / manifest.train[0].path
    doc = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert doc["counts"] == {"train": {"Sony-NEX-7": 2, "iPhone-6": 3},
                             "val": {"Sony-NEX-7": 1, "iPhone-6": 1}}
    header = (tmp_path / "ds" / "train.csv").read_text().splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)
    assert doc["format"] == manifest.format == "camid-manifest/2"


def test_rows_carry_what_the_catalog_knows_of_each_file(tmp_path: Path) -> None:
    written = write(tmp_path / "ds")
    row = read_manifest(tmp_path / "ds").train[1]
    assert (row.make, row.model) == ("Apple", "iPhone 6")
    assert (row.width, row.height, row.subsampling) == (3265, 2448, "4:2:0")  # ints come back as ints
    assert read_manifest(tmp_path / "ds").train[0].subsampling is None  # unknown stays unknown
    assert written.train == rows("iPhone-6", 3) + rows("Sony-NEX-7", 2, 10)


def test_write_returns_what_a_reader_reads(tmp_path: Path) -> None:
    written = write(tmp_path / "ds")
    assert written == read_manifest(tmp_path / "ds")
    doc = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    summary = written.summary()
    assert (summary.rows_sha256, summary.seed) == (doc["rows_sha256"], 7)
    assert json.loads(summary.counts_json) == doc["counts"] == written.counts()


V1_COLUMNS = ("path", "sha256", "label", "source", "uploader", "licence", "attribution_url")


def write_format_1(directory: Path) -> None:
    """A dataset as camid wrote it before the catalog's facts joined the rows."""
    directory.mkdir(parents=True)
    texts = {}
    for split, label in (("train", "iPhone-6"), ("val", "iPhone-6")):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(V1_COLUMNS)
        writer.writerow([f"{split}.jpg", "a" * 64, label, "flickr", "", "CC BY 2.0", "https://x.test/1"])
        texts[split] = buf.getvalue()
        (directory / f"{split}.csv").write_text(texts[split])
    digest = hashlib.sha256()
    for split in ("train", "val"):
        digest.update(split.encode() + b"\0" + texts[split].encode() + b"\0")
    (directory / "manifest.json").write_text(json.dumps({
        "format": "camid-manifest/1", "name": "old", "classes": ["iPhone-6"], "registry_hash": "r",
        "policy_hash": "p", "seed": 1, "counts": {}, "files": {"train": "train.csv", "val": "val.csv"},
        "rows_sha256": digest.hexdigest()}))


def test_a_format_1_dataset_still_loads(tmp_path: Path) -> None:
    write_format_1(tmp_path / "old")
    manifest = read_manifest(tmp_path / "old")
    assert manifest.format == "camid-manifest/1"
    row = manifest.train[0]
    assert (row.label, row.uploader, row.attribution_url) == ("iPhone-6", None, "https://x.test/1")
    assert (row.make, row.model, row.width, row.height, row.subsampling) == (None,) * 5


def test_columns_must_match_the_declared_format(tmp_path: Path) -> None:
    write_format_1(tmp_path / "old")
    doc = json.loads((tmp_path / "old" / "manifest.json").read_text())
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({**doc, "format": "camid-manifest/2"}))
    with pytest.raises(CamidError, match="manifest CSV columns"):
        read_manifest(tmp_path / "old")
    (tmp_path / "old" / "manifest.json").write_text(json.dumps({**doc, "format": "camid-manifest/9"}))
    with pytest.raises(CamidError, match="unsupported manifest format"):
        read_manifest(tmp_path / "old")


def stored(**changes: object) -> AcceptedImage:
    base = AcceptedImage(sha256="b" * 64, path="images/bb/b.jpg", label="iPhone-6", source="wikimedia",
                         author="Ann", licence="CC BY-SA 4.0", page_url="https://x.test/File:b.jpg",
                         url="https://upload.x.test/b.jpg", phash="0f" * 8, make="Apple",
                         model="iPhone 6", width=3264, height=2448, subsampling="4:2:0")
    return replace(base, **changes)  # type: ignore[arg-type]  # test helper: any field


def test_export_items_decide_uploader_and_attribution_url() -> None:
    item = export_item(stored())
    assert (item.uploader, item.attribution_url) == ("Ann", "https://x.test/File:b.jpg")
    assert export_item(stored(page_url=None)).attribution_url == "https://upload.x.test/b.jpg"
    assert export_item(stored(page_url="")).attribution_url == "https://upload.x.test/b.jpg"
    assert export_item(stored(author="")).uploader is None  # no name must not group strangers
    row = manifest_row(item, "../../images/bb/b.jpg")
    assert (row.path, row.uploader, row.attribution_url) == ("../../images/bb/b.jpg", "Ann",
                                                             "https://x.test/File:b.jpg")
    assert (row.make, row.model, row.width, row.height, row.subsampling) == (
        "Apple", "iPhone 6", 3264, 2448, "4:2:0")


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    write(tmp_path / "a")
    write(tmp_path / "b")
    for name in ("train.csv", "val.csv", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_tampered_rows_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    csv_path = tmp_path / "ds" / "val.csv"
    csv_path.write_text(csv_path.read_text().replace("iPhone-6", "Sony-NEX-7"))
    with pytest.raises(CamidError, match=r"do not match manifest\.json"):
        read_manifest(tmp_path / "ds")


def test_unfinished_export_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    (tmp_path / "ds" / "manifest.json").unlink()
    with pytest.raises(CamidError, match=r"no manifest\.json"):
        read_manifest(tmp_path / "ds")
