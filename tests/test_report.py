"""`camid report`: the dataset card of a dataset and of a catalog, bounded however large, and the
Hugging Face imagefolder view `camid export` writes beside the manifest."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from pathlib import Path

import pytest
from PIL import Image, JpegImagePlugin

from flows.cli import main
from flows.stages.report import write_dataset_card
from pipeline.card import SplitMember, split_sides
from pipeline.imagefolder import COLUMNS
from pipeline.manifest import read_manifest
from pipeline.thumbnails import THUMB_PX, thumbnail
from tests import cardworld
from tests.cardworld import HOSTILE

IMG = re.compile(r'<img src="data:image/jpeg;base64,')


@pytest.fixture
def world(tmp_path: Path, catalog_url: str, policy):
    built = cardworld.build(tmp_path, catalog_url, policy)
    yield built
    built.catalog.close()


@pytest.mark.timeout(600)
def test_the_card_of_a_dataset_shows_each_camera_reason_split_and_provenance(world) -> None:
    result = write_dataset_card(world.catalog, world.data, world.registry, "card")
    assert result.path == world.data / "datasets" / "card" / "report.html"
    page = result.path.read_text(encoding="utf-8")
    manifest = read_manifest(world.data / "datasets" / "card")
    assert result.images == len(manifest.train) + len(manifest.val) + len(manifest.test) == world.accepted
    assert manifest.test  # the export now makes a test split of unseen devices
    # per camera: the funnel, the labelled files, a bounded grid; per reason: the measured values
    for name in ("Test camera A", "Test camera B"):
        assert name in page
    assert "120 file(s) in the dataset with this label" in page
    for reason, measured in [("low_quality", "quality 80 &lt; 95"),
                             ("non_native_size", "80x60 is not native to Cam-A (64x48)"),
                             ("edited_software", "Software &#x27;GIMP 2.10&#x27;"),
                             ("unknown_camera", "EXIF Make &#x27;Canon&#x27;, Model &#x27;EOS&#x27;"),
                             ("truncated", "no end-of-image marker")]:
        assert f'id="reason-{reason}"' in page and measured in page, reason
        assert f"{reason}</span>: 12 file(s)" in page
    # the split: counts per class and side, uploaders per side, none on both
    assert "<th class=n>train</th><th class=n>val</th><th class=n>test</th>" in page
    assert "No uploader or device is on two sides." in page
    # provenance: the manifest's hashes and seed, camid's version
    for value in (manifest.rows_sha256, manifest.registry_hash, manifest.policy_hash):
        assert value in page
    assert "<th>seed</th><td class=code>1</td>" in page
    # datasheet sections
    for section in ("motivation", "composition", "collection", "preprocessing", "uses", "distribution"):
        assert f'<section id="{section}">' in page
    # what strangers wrote is escaped, never markup
    assert "<script" not in page and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page
    assert HOSTILE not in page
    # bounded: 24 per camera, 8 per reason
    assert len(IMG.findall(page)) == 2 * 24 + 6 * 8
    assert result.bytes < 400_000


def test_the_card_of_the_catalog_and_its_bounds(world) -> None:
    result = write_dataset_card(world.catalog, world.data, world.registry, None, per_camera=5, per_reason=2)
    assert result.path == world.data / "report.html"
    page = result.path.read_text(encoding="utf-8")
    assert len(IMG.findall(page)) == 2 * 5 + 6 * 2
    assert "the whole catalog" in page and "A card of the whole catalog has no split" in page
    assert f"{world.files - world.accepted} file(s) rejected" in page
    none = write_dataset_card(world.catalog, world.data, world.registry, None, per_camera=0, per_reason=0)
    assert not IMG.search(none.path.read_text(encoding="utf-8"))


def test_thumbnails_come_from_the_reduced_decode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.jpg"
    Image.effect_mandelbrot((3000, 2000), (-2, -1, 1, 1), 50).convert("RGB").save(big, quality=95)
    drafts: list[tuple[object, tuple[int, int]]] = []
    real = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        found = real(self, mode, size)
        drafts.append((mode, self.size))  # the size libjpeg will decode at
        return found

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    preview = thumbnail(big)
    assert drafts[0] == ("RGB", (375, 250))  # 1/8 DCT scaling: never the 3000x2000 decode
    assert preview is not None and max(Image.open(io.BytesIO(preview)).size) == THUMB_PX
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(big.read_bytes()[: big.stat().st_size // 2])
    assert thumbnail(cut) is not None  # what arrived of a truncated file still shows
    png = tmp_path / "small.png"
    Image.new("RGB", (300, 200), (10, 200, 30)).save(png)
    assert thumbnail(png) is not None
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"\xff\xd8not a jpeg at all")
    assert thumbnail(junk) is None and thumbnail(tmp_path / "missing.jpg") is None


def test_split_sides_count_uploaders_and_devices_shared_between_sides() -> None:
    members = [SplitMember("a", "train", "X", "u1", "d1"), SplitMember("b", "train", "Y", "u2", None),
               SplitMember("c", "val", "X", "u1", "d2"), SplitMember("d", "test", "Y", None, "d2")]
    train, val, test = split_sides(members)
    assert (train.split, train.images, train.uploaders, train.devices) == ("train", 2, 2, 1)
    assert dict(train.per_class) == {"X": 1, "Y": 1}
    shared = (train.shared_uploaders, val.shared_uploaders, val.shared_devices, test.shared_devices)
    assert shared == (1, 1, 1, 1)
    assert split_sides([]) == ()


def test_export_writes_an_imagefolder_view_others_load(world) -> None:
    directory = world.data / "datasets" / "card"
    manifest = read_manifest(directory)
    assert manifest.test
    for split, rows in (("train", manifest.train), ("val", manifest.val), ("test", manifest.test)):
        text = (directory / split / "metadata.csv").read_text(encoding="utf-8")
        table = list(csv.DictReader(io.StringIO(text)))
        assert tuple(table[0]) == COLUMNS and COLUMNS[0] == "file_name"
        assert sorted(r["sha256"] for r in table) == sorted(r.sha256 for r in rows)
        for r in table:
            image = directory / split / r["file_name"]
            assert r["file_name"] == f"{r['label']}/{r['sha256']}.jpg"
            assert hashlib.sha256(image.read_bytes()).hexdigest() == r["sha256"]


def test_cli_report_writes_the_card_and_names_a_missing_dataset(world, capsys: pytest.CaptureFixture,
                                                               catalog_url: str) -> None:
    args = ["--catalog", catalog_url, "--data-dir", str(world.data), "--registry",
            str(world.data.parent / "cams.toml"), "report"]
    with pytest.raises(SystemExit) as done:
        main([*args, "card", "--per-camera", "3"])
    out = capsys.readouterr()
    assert done.value.code == 0, out.err
    assert out.out.startswith(f"wrote {world.data / 'datasets' / 'card' / 'report.html'}: 240 file(s), ")
    with pytest.raises(SystemExit) as done:
        main([*args, "nope"])
    err = capsys.readouterr().err
    assert done.value.code == 1
    assert err.splitlines() == [f"camid: error: no dataset 'nope' in {world.data / 'datasets'}: "
                                "run `camid export nope` first"]
