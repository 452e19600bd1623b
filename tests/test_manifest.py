"""The manifest format that connects curation to training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import CamidError
from pipeline.manifest import MANIFEST_COLUMNS, read_manifest, write_manifest
from pipeline.records import ManifestRow


def rows(label: str, n: int, start: int = 0) -> tuple[ManifestRow, ...]:
    return tuple(
        ManifestRow(path=f"../../images/{i:02x}/{i:064x}.jpg", sha256=f"{i:064x}", label=label,
                    source="flickr", uploader=f"user, {i}" if i % 2 else None,
                    licence="CC BY 2.0", attribution_url=f"https://example.test/{i}")
        for i in range(start, start + n)
    )


def write(directory: Path) -> Path:
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
