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
from pipeline.export_rows import device_key, export_item, manifest_row
from pipeline.manifest import MANIFEST_COLUMNS, SPLITS, Manifest, read_manifest, write_manifest
from pipeline.records import AcceptedImage, ManifestRow


def rows(label: str, n: int, start: int = 0) -> tuple[ManifestRow, ...]:
    return tuple(
        ManifestRow(path=f"../../images/{i:02x}/{i:064x}.jpg", sha256=f"{i:064x}", label=label,
                    source="flickr", uploader=f"user, {i}" if i % 2 else None,
                    licence="CC BY 2.0", attribution_url=f"https://example.test/{i}",
                    make="Apple" if label == "iPhone-6" else "SONY",
                    model="iPhone 6" if label == "iPhone-6" else "NEX-7",
                    width=3264 + i, height=2448, subsampling="4:2:0" if i % 3 else None,
                    device=f"serial:{i:016x}" if i % 2 else None)
        for i in range(start, start + n)
    )


def write(directory: Path) -> Manifest:
    train = rows("iPhone-6", 3) + rows("Sony-NEX-7", 2, 10)
    val = rows("iPhone-6", 1, 20) + rows("Sony-NEX-7", 1, 30)
    test = rows("iPhone-6", 2, 40) + rows("Sony-NEX-7", 1, 50)
    heldout = rows("Nikon-D70", 2, 60)  # a camera kept out of the classes (open-set evaluation)
    return write_manifest(directory, "demo", ("iPhone-6", "Sony-NEX-7"), train, val,
                          registry_hash="r" * 64, policy_hash="p" * 64, seed=7, test=test, heldout=heldout)


def test_round_trip(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    manifest = read_manifest(tmp_path / "ds")
    assert manifest.classes == ("iPhone-6", "Sony-NEX-7")
    assert len(manifest.train) == 5 and len(manifest.val) == 2 and len(manifest.test) == 3
    assert manifest.train[1].uploader == "user, 1"  # commas survive CSV quoting
    assert manifest.train[0].uploader is None
    assert manifest.seed == 7
    assert manifest.image_path(manifest.train[0]) == tmp_path / "ds" / manifest.train[0].path
    doc = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert doc["counts"] == {"train": {"Sony-NEX-7": 2, "iPhone-6": 3},
                             "val": {"Sony-NEX-7": 1, "iPhone-6": 1},
                             "test": {"Sony-NEX-7": 1, "iPhone-6": 2},
                             "heldout": {"Nikon-D70": 2}}
    for split in SPLITS:
        header = (tmp_path / "ds" / f"{split}.csv").read_text().splitlines()[0]
        assert header == ",".join(MANIFEST_COLUMNS) and header.endswith(",device")
    assert doc["files"] == {"train": "train.csv", "val": "val.csv", "test": "test.csv",
                            "heldout": "heldout.csv"}
    assert doc["format"] == manifest.format == "camid-manifest/4"
    assert [r.label for r in manifest.heldout] == ["Nikon-D70"] * 2 and "Nikon-D70" not in manifest.classes
    assert [r.device for r in manifest.test] == [None, "serial:0000000000000029", None]


def test_rows_carry_what_the_catalog_knows_of_each_file(tmp_path: Path) -> None:
    written = write(tmp_path / "ds")
    row = read_manifest(tmp_path / "ds").train[1]
    assert (row.make, row.model) == ("Apple", "iPhone 6")
    assert (row.width, row.height, row.subsampling) == (3265, 2448, "4:2:0")  # ints come back as ints
    assert read_manifest(tmp_path / "ds").train[0].subsampling is None  # unknown stays unknown
    assert written.train == rows("iPhone-6", 3) + rows("Sony-NEX-7", 2, 10)
    assert written.test == rows("iPhone-6", 2, 40) + rows("Sony-NEX-7", 1, 50)


def test_a_dataset_without_a_test_split_has_an_empty_test_csv(tmp_path: Path) -> None:
    written = write_manifest(tmp_path / "ds", "two", ("iPhone-6",), rows("iPhone-6", 2),
                             rows("iPhone-6", 1, 5), registry_hash="r" * 64, policy_hash="p" * 64, seed=0)
    assert (tmp_path / "ds" / "test.csv").read_text() == ",".join(MANIFEST_COLUMNS) + "\n"
    assert read_manifest(tmp_path / "ds") == written and written.test == ()
    assert written.counts()["test"] == {}


def test_write_returns_what_a_reader_reads(tmp_path: Path) -> None:
    written = write(tmp_path / "ds")
    assert written == read_manifest(tmp_path / "ds")
    doc = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    summary = written.summary()
    assert (summary.rows_sha256, summary.seed) == (doc["rows_sha256"], 7)
    assert json.loads(summary.counts_json) == doc["counts"] == written.counts()


V1_COLUMNS = ("path", "sha256", "label", "source", "uploader", "licence", "attribution_url")


V2_COLUMNS = (*V1_COLUMNS, "make", "model", "width", "height", "subsampling")


def write_old_format(directory: Path, version: int = 1) -> None:
    """A dataset as camid wrote it before the catalog's facts joined the rows (format 1), or
    before the test split and the device column (format 2): train and val only."""
    directory.mkdir(parents=True)
    texts = {}
    for split, label in (("train", "iPhone-6"), ("val", "iPhone-6")):
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(V1_COLUMNS if version == 1 else V2_COLUMNS)
        row = [f"{split}.jpg", "a" * 64, label, "flickr", "", "CC BY 2.0", "https://x.test/1"]
        writer.writerow(row if version == 1 else [*row, "Apple", "iPhone 6", 3264, 2448, "4:2:0"])
        texts[split] = buf.getvalue()
        (directory / f"{split}.csv").write_text(texts[split])
    (directory / "manifest.json").write_text(json.dumps({
        "format": f"camid-manifest/{version}", "name": "old", "classes": ["iPhone-6"],
        "registry_hash": "r", "policy_hash": "p", "seed": 1, "counts": {},
        "files": {"train": "train.csv", "val": "val.csv"}, "rows_sha256": rows_digest(texts)}))


def rows_digest(texts: dict[str, str]) -> str:
    """The rows hash an older camid wrote over its splits' CSV texts (in the order given)."""
    digest = hashlib.sha256()
    for split, text in texts.items():
        digest.update(split.encode() + b"\0" + text.encode() + b"\0")
    return digest.hexdigest()


def write_format_1(directory: Path) -> None:
    write_old_format(directory, 1)


def test_a_format_1_dataset_still_loads(tmp_path: Path) -> None:
    write_format_1(tmp_path / "old")
    manifest = read_manifest(tmp_path / "old")
    assert manifest.format == "camid-manifest/1"
    row = manifest.train[0]
    assert (row.label, row.uploader, row.attribution_url) == ("iPhone-6", None, "https://x.test/1")
    assert (row.make, row.model, row.width, row.height, row.subsampling) == (None,) * 5
    assert manifest.test == () and row.device is None


def test_a_format_2_dataset_still_loads_and_verifies(tmp_path: Path) -> None:
    write_old_format(tmp_path / "old", 2)
    manifest = read_manifest(tmp_path / "old")
    assert manifest.format == "camid-manifest/2" and manifest.test == ()
    row = manifest.val[0]
    assert (row.make, row.width, row.subsampling, row.device) == ("Apple", 3264, "4:2:0", None)
    assert set(manifest.counts()) == {"train", "val"}  # the splits that format had
    val = tmp_path / "old" / "val.csv"
    val.write_text(val.read_text().replace("4:2:0", "4:4:4"))
    with pytest.raises(CamidError, match="rows hash differs"):
        read_manifest(tmp_path / "old")


def test_a_manifest_without_its_test_or_heldout_file_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    path = tmp_path / "ds" / "manifest.json"
    doc = json.loads(path.read_text())
    files = {"train": "train.csv", "val": "val.csv", "test": "test.csv"}
    path.write_text(json.dumps({**doc, "files": files}))
    with pytest.raises(CamidError, match="names no CSV for each of train, val, test, heldout"):
        read_manifest(tmp_path / "ds")


def test_a_format_3_dataset_still_loads_and_verifies(tmp_path: Path) -> None:
    """Before format 4 there was no heldout split: its rows hash covers train, val and test."""
    write(tmp_path / "ds")
    root = tmp_path / "ds"
    texts = {s: (root / f"{s}.csv").read_text() for s in ("train", "val", "test")}
    doc = json.loads((root / "manifest.json").read_text())
    (root / "heldout.csv").unlink()
    (root / "manifest.json").write_text(json.dumps({
        **doc, "format": "camid-manifest/3", "rows_sha256": rows_digest(texts),
        "files": {s: f"{s}.csv" for s in texts}}))
    manifest = read_manifest(root)
    assert manifest.format == "camid-manifest/3" and manifest.heldout == () and len(manifest.test) == 3
    assert set(manifest.counts()) == {"train", "val", "test"}


def test_a_tampered_test_split_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "ds")
    path = tmp_path / "ds" / "test.csv"
    path.write_text(path.read_text().replace("serial:0000000000000029", "serial:0000000000000001"))
    with pytest.raises(CamidError, match="rows hash differs"):
        read_manifest(tmp_path / "ds")


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


@pytest.mark.parametrize(("changes", "device"), [
    ({"serial": "062034001234"},
     "serial:" + hashlib.sha256(b"Apple|iPhone 6|062034001234").hexdigest()[:16]),
    ({"serial": " 062034001234 "},
     "serial:" + hashlib.sha256(b"Apple|iPhone 6|062034001234").hexdigest()[:16]),
    ({"serial": None}, "uploader:wikimedia:Ann"),
    ({"serial": "0000000000"}, "uploader:wikimedia:Ann"),  # a placeholder names no device
    ({"serial": "unknown"}, "uploader:wikimedia:Ann"),
    ({"serial": None, "author": ""}, None),
    ({"serial": None, "author": None}, None),
], ids=["serial", "serial-spaces", "uploader", "zeros", "placeholder", "empty-author", "nothing"])
def test_device_key(changes, device: str | None) -> None:
    item = export_item(stored(**changes))
    assert item.device == device
    assert manifest_row(item, "x.jpg").device == device


def test_device_keys_tell_models_apart_and_never_show_the_serial() -> None:
    one = export_item(stored(serial="1234567"))
    other_model = export_item(stored(serial="1234567", model="iPhone 6 Plus"))
    assert one.device != other_model.device
    assert one.device is not None and "1234567" not in one.device
    assert device_key("Apple", "iPhone 6", "1234567", "flickr", "Bob") == one.device  # not the uploader's


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    write(tmp_path / "a")
    write(tmp_path / "b")
    for name in ("train.csv", "val.csv", "test.csv", "manifest.json"):
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
