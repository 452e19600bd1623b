"""curate and export on a real catalog: verdicts, re-judging only what changed, leak-free splits."""

from __future__ import annotations

import hashlib
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import select

from db import Catalog
from db.models import ExportRow
from flows.stages.curate import curate, export
from pipeline.errors import CamidError
from pipeline.facts import read_facts
from pipeline.manifest import read_manifest
from pipeline.policy import load_policy
from pipeline.records import Candidate, CandidateKey, CandidateStatus, Download
from pipeline.registry_load import load_registry
from pipeline.storage import content_relpath


@dataclass(frozen=True)
class StoredFile:
    sha256: str
    relpath: str
    bytes: int


def store_local_file(src: Path, data: Path) -> StoredFile:
    """Put a file into content-addressed storage as the downloader would (tests skip the HTTP)."""
    content = src.read_bytes()
    sha = hashlib.sha256(content).hexdigest()
    target = data / content_relpath(sha)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return StoredFile(sha, content_relpath(sha), len(content))


def add_downloaded(catalog: Catalog, data: Path, scratch: Path, name: str, content: bytes, author: str,
                   camera: str, source: str = "flickr") -> str:
    """A candidate found and downloaded as if a scraper and the downloader had run; its sha256."""
    src = scratch / f"{name}.jpg"
    src.write_bytes(content)
    stored = store_local_file(src, data)
    catalog.add_candidates([Candidate(source, name, f"https://x.test/{name}", camera,
                                      licence="CC BY 2.0", author=author,
                                      page_url=f"https://x.test/p/{name}")])
    catalog.record_download(Download(CandidateKey(source, name), stored.sha256, stored.relpath,
                                     stored.bytes))
    return stored.sha256


REGISTRY = """
[cameras.Cam-A]
name = "Test camera A"
makes = ["Acme"]
models = ["A1"]
sizes = ["64x48"]
firmware_software = ['^A1 v\\d']

[cameras.Cam-B]
name = "Test camera B"
makes = ["Bolt"]
models = ["B2"]
sizes = ["48x64"]
"""


def jpeg(make: str, model: str, size: tuple[int, int], seed: int, quality: int = 97,
         software: str | None = None, serial: str | None = None) -> bytes:
    rng = random.Random(seed)
    im = Image.new("RGB", size)
    im.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256))
                for _ in range(size[0] * size[1])])
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = make, model
    if software:
        exif[0x0131] = software
    if serial:
        exif.get_ifd(0x8769)[0xA431] = serial  # BodySerialNumber
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, exif=exif)
    return buf.getvalue()


@pytest.fixture
def world(tmp_path: Path, catalog_url: str):
    """A data dir with a catalog, a two-camera registry and helper to add downloaded files."""
    reg_path = tmp_path / "cams.toml"
    reg_path.write_text(REGISTRY)
    registry = load_registry(reg_path)
    data = tmp_path / "data"
    catalog = Catalog.open(catalog_url)

    def add(name: str, content: bytes, author: str, camera: str = "Cam-A", source: str = "flickr") -> str:
        return add_downloaded(catalog, data, tmp_path, name, content, author, camera, source)

    yield registry, data, catalog, add
    catalog.close()


def test_curate_judges_reasons_and_only_what_changed(world, tmp_path: Path) -> None:
    registry, data, catalog, add = world
    policy = load_policy()
    add("good", jpeg("Acme", "A1", (64, 48), 1, software="A1 v1.0"), "alice")
    add("gimp", jpeg("Acme", "A1", (64, 48), 2, software="GIMP 2.10"), "bob")
    add("small", jpeg("Acme", "A1", (32, 24), 3, quality=80), "carol")
    add("other", jpeg("Canon", "EOS", (64, 48), 4), "dave")
    src = tmp_path / "broken.jpg"
    src.write_bytes(jpeg("Acme", "A1", (64, 48), 5)[:-200])
    stored = store_local_file(src, data)
    catalog.add_candidates([Candidate("flickr", "broken", "https://x.test/broken", "Cam-A")])
    catalog.record_download(Download(CandidateKey("flickr", "broken"), stored.sha256, stored.relpath, 1))

    report = curate(catalog, data, registry, policy)
    assert (report.read, report.judged, report.accepted, report.rejected) == (5, 5, 1, 4)
    status = {k: catalog.candidate_status(CandidateKey("flickr", k))
              for k in ("good", "gimp", "small", "other", "broken")}
    assert status["good"] is CandidateStatus.ACCEPTED
    assert all(status[k] is CandidateStatus.REJECTED for k in ("gimp", "small", "other", "broken"))
    reasons = {(r.reason, r.count) for r in catalog.stats().reasons}
    assert ("edited_software", 1) in reasons
    assert ("low_quality", 1) in reasons and ("non_native_size", 1) in reasons
    assert ("unknown_camera", 1) in reasons and ("truncated", 1) in reasons

    again = curate(catalog, data, registry, policy)
    assert (again.read, again.judged) == (0, 0)  # nothing changed, nothing re-done

    lenient = tmp_path / "lenient.toml"
    lenient.write_text("[checks]\nedits = false\n")
    changed = curate(catalog, data, registry, load_policy(lenient))
    assert (changed.read, changed.judged, changed.accepted) == (0, 5, 2)


def test_export_writes_a_leak_free_deterministic_dataset(world, tmp_path: Path) -> None:
    registry, data, catalog, add = world
    for i in range(12):
        add(f"a{i}", jpeg("Acme", "A1", (64, 48), 100 + i), author=f"user{i % 6}")
        add(f"b{i}", jpeg("Bolt", "B2", (48, 64), 200 + i), author=f"buser{i}", camera="Cam-B")
    # the same photo uploaded twice by different people, once with bytes a site appended after
    # the image (other bytes, the same pixels and signature): a near-duplicate pair. A re-encode
    # with other tables would not do: the catalog has learned Acme's own (foreign_encoder).
    twin = jpeg("Acme", "A1", (64, 48), 999, quality=97)
    add("twin1", twin, "tina")
    add("twin2", twin + b"\x00" * 64, "tom", source="wikimedia")
    curate(catalog, data, registry, load_policy())

    report = export(catalog, data, "ds", registry, seed=3, per_class=3, fraction=None)
    manifest = read_manifest(report.directory)
    assert manifest.classes == ("Cam-A", "Cam-B")
    val_labels = [r.label for r in manifest.val]
    assert val_labels.count("Cam-A") <= 3 and val_labels.count("Cam-B") == 3
    uploaders = lambda rows: {(r.source, r.uploader) for r in rows}  # noqa: E731
    assert not uploaders(manifest.train) & uploaders(manifest.val)
    twins = {r.uploader: ("train" if r in manifest.train else "val")
             for r in (*manifest.train, *manifest.val) if r.uploader in ("tina", "tom")}
    assert len(twins) == 2 and len(set(twins.values())) == 1  # near duplicates stay together
    for row in manifest.train:
        assert manifest.image_path(row).resolve().exists()
    for row in (*manifest.train, *manifest.val):  # what training needs, as the catalog read it
        facts = read_facts(manifest.image_path(row))
        assert (row.make, row.model, row.width, row.height, row.subsampling) == (
            facts.make, facts.model, facts.width, facts.height, facts.subsampling)
        assert row.subsampling and row.attribution_url and row.attribution_url.startswith("https://x.test/p/")
    doc = json.loads((report.directory / "manifest.json").read_text())
    assert doc["registry_hash"] == registry.hash and doc["seed"] == 3
    assert report.counts == doc["counts"]
    with catalog.engine.connect() as conn:  # what the catalog remembers is what was written
        recorded = conn.execute(select(ExportRow.rows_sha256, ExportRow.counts_json)).one()
    assert recorded.rows_sha256 == doc["rows_sha256"] and json.loads(recorded.counts_json) == doc["counts"]
    assert doc["near_duplicate_clusters"] == 25  # 26 images, one twin pair
    assert "CC BY 2.0" in (report.directory / "ATTRIBUTION.md").read_text()

    first = {n: (report.directory / n).read_bytes() for n in ("train.csv", "val.csv", "manifest.json")}
    with pytest.raises(CamidError, match="already exists: pass --replace"):
        export(catalog, data, "ds", registry, seed=3, per_class=3, fraction=None)
    export(catalog, data, "ds", registry, seed=3, per_class=3, fraction=None, replace=True)
    assert first == {n: (report.directory / n).read_bytes() for n in first}
    other = export(catalog, data, "ds2", registry, seed=4, per_class=3, fraction=None)
    assert (other.directory / "val.csv").read_bytes() != first["val.csv"]


def test_export_tests_on_devices_training_never_saw(world, tmp_path: Path) -> None:
    registry, data, catalog, add = world
    for camera, make, model, size in (("Cam-A", "Acme", "A1", (64, 48)), ("Cam-B", "Bolt", "B2", (48, 64))):
        for d in range(4):  # four bodies of each camera, each photo uploaded by someone else
            for k in range(3):
                content = jpeg(make, model, size, 1000 * len(make) + 10 * d + k, serial=f"SN{camera}{d}")
                add(f"{camera}-{d}-{k}", content, author=f"u{camera}{d}{k}", camera=camera)
    curate(catalog, data, registry, load_policy())

    report = export(catalog, data, "ds", registry, seed=1, per_class=3, fraction=None)  # test as val
    manifest = read_manifest(report.directory)
    assert report.counts == manifest.counts() == {"train": {"Cam-A": 6, "Cam-B": 6},
                                                  "val": {"Cam-A": 3, "Cam-B": 3},
                                                  "test": {"Cam-A": 3, "Cam-B": 3}, "heldout": {}}
    assert (report.train, report.val, report.test, report.test_devices_unseen) == (12, 6, 6, True)
    devices = {split: {r.device for r in rows} for split, rows in manifest.splits().items()}
    assert all(d and d.startswith("serial:") for rows in devices.values() for d in rows)
    assert not (devices["train"] & devices["test"] or devices["train"] & devices["val"]
                or devices["val"] & devices["test"])
    for name in ("train.csv", "val.csv", "test.csv", "manifest.json", "ATTRIBUTION.md"):
        assert "SNCam" not in (report.directory / name).read_text()  # only the hash leaves the catalog
    doc = json.loads((report.directory / "manifest.json").read_text())
    assert doc["format"] == "camid-manifest/4" and doc["test_devices_unseen"] is True
    assert (doc["test_per_class"], doc["test_fraction"]) == (3, None)
    assert doc["split"]["per_split"]["test"] == {"images": {"Cam-A": 3, "Cam-B": 3},
                                                 "devices": {"Cam-A": 1, "Cam-B": 1}, "no_device": 0}
    assert doc["split"]["per_split"]["train"]["devices"] == {"Cam-A": 2, "Cam-B": 2}
    assert doc["split"]["shortfalls"] == []
    with catalog.engine.connect() as conn:
        recorded = json.loads(conn.execute(select(ExportRow.counts_json)).scalar_one())
    assert recorded == doc["counts"] and set(recorded) == {"train", "val", "test", "heldout"}

    two = export(catalog, data, "two", registry, seed=1, per_class=3, fraction=None, test_per_class=0)
    assert (two.test, two.val, two.train) == (0, 6, 18) and two.shortfalls == ()
    short = export(catalog, data, "short", registry, seed=1, per_class=2, fraction=None, test_per_class=4)
    # groups of three: test takes one per class (4 would overshoot), val none of its 2
    assert (short.test, short.val) == (6, 0)
    assert {(s.split, s.target, s.taken) for s in short.shortfalls} == {("test", 4, 3), ("val", 2, 0)}

    # a camera held out of the classes entirely: every file of it in heldout.csv, none elsewhere
    held = export(catalog, data, "open", registry, seed=1, per_class=3, fraction=None, hold_out=("Cam-B",))
    opened = read_manifest(held.directory)
    assert opened.classes == ("Cam-A",) and held.heldout == 12 and len(opened.heldout) == 12
    assert {r.label for r in opened.heldout} == {"Cam-B"}
    assert all(r.label == "Cam-A" for r in (*opened.train, *opened.val, *opened.test))
    assert json.loads((held.directory / "manifest.json").read_text())["held_out_cameras"] == ["Cam-B"]
    with pytest.raises(CamidError, match="--hold-out Cam-Z: not a camera of the registry"):
        export(catalog, data, "bad", registry, seed=1, per_class=3, fraction=None, hold_out=("Cam-Z",))
    with pytest.raises(CamidError, match="nothing is left to train on"):
        export(catalog, data, "none", registry, seed=1, per_class=3, fraction=None,
               hold_out=("Cam-A", "Cam-B"))
    assert not (data / "datasets" / "bad").exists() and not (data / "datasets" / "none").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"test_per_class": 2, "test_fraction": 0.1}, "give --test-per-class or --test-fraction, not both"),
    ({"test_per_class": -2}, "--test-per-class must be 0 or more, not -2"),
])
def test_export_refuses_impossible_test_options_before_writing(world, options, message: str) -> None:
    registry, data, catalog, _add = world
    _three_accepted(world)
    with pytest.raises(CamidError) as err:
        export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None, **options)
    assert str(err.value) == message and not (data / "datasets" / "ds").exists()


def _three_accepted(world) -> list[str]:
    registry, data, catalog, add = world
    shas = [add(f"a{i}", jpeg("Acme", "A1", (64, 48), 300 + i), author=f"user{i}") for i in range(3)]
    curate(catalog, data, registry, load_policy())
    return sorted(shas)


def test_export_checks_every_stored_file_before_writing(world) -> None:
    registry, data, catalog, _add = world
    shas = _three_accepted(world)
    missing, altered = (data / content_relpath(sha) for sha in shas[1:])
    kept = missing.read_bytes()
    missing.unlink()
    with pytest.raises(CamidError) as err:
        export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None)
    assert str(err.value) == (f"cannot export: stored file {missing} (image {shas[1][:16]}) is "
                              "missing; nothing was written")
    missing.write_bytes(kept)
    content = bytearray(altered.read_bytes())
    content[len(content) // 2] ^= 0xFF  # same size, other bytes: only the hash tells
    altered.write_bytes(bytes(content))
    with pytest.raises(CamidError, match=f"stored file {altered} .image {shas[2][:16]}. does not "
                                         "match its SHA-256"):
        export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None)
    assert not (data / "datasets").exists()  # nothing was written


def test_export_writes_only_into_a_dataset_camid_made(world) -> None:
    registry, data, catalog, _add = world
    _three_accepted(world)
    mine = data / "datasets" / "mine"
    mine.mkdir(parents=True)
    (mine / "notes.txt").write_text("my own notes")
    for replace in (False, True):
        with pytest.raises(CamidError, match=r"was not made by `camid export`.*choose another"):
            export(catalog, data, "mine", registry, seed=0, per_class=1, fraction=None,
                   replace=replace)
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    report = export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None)
    assert (report.directory / ".camid-dataset").is_file()
    (report.directory / ".camid-dataset").unlink()  # as an export before the marker left it
    export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None, replace=True)
    assert (report.directory / ".camid-dataset").is_file()


def test_cli_export_refuses_to_replace_unless_asked(tmp_path: Path, sqlite_url: str) -> None:
    from tests.fakes.cli import camid

    (tmp_path / "cams.toml").write_text(REGISTRY)
    registry, data = load_registry(tmp_path / "cams.toml"), tmp_path / "data"
    with Catalog.open(sqlite_url) as catalog:
        for i in range(3):
            add_downloaded(catalog, data, tmp_path, f"a{i}", jpeg("Acme", "A1", (64, 48), 300 + i),
                           f"user{i}", "Cam-A")
        curate(catalog, data, registry, load_policy())
    args = ("--catalog", sqlite_url, "--registry", str(tmp_path / "cams.toml"), "export", "ds",
            "--val-per-class", "1")
    first, again, replaced = (camid(*args, cwd=tmp_path), camid(*args, cwd=tmp_path),
                              camid(*args, "--replace", cwd=tmp_path))
    assert first.returncode == 0 and replaced.returncode == 0, first.stderr + replaced.stderr
    assert again.returncode == 1 and again.stderr.splitlines() == [
        f"camid: error: dataset {data / 'datasets' / 'ds'} already exists: pass --replace to "
        "export it again, or choose another name"]


def test_accepted_items_are_the_stored_values(world) -> None:
    """The catalog hands back what it stores; uploader and attribution URL are decided later."""
    registry, data, catalog, add = world
    sha = add("good", jpeg("Acme", "A1", (64, 48), 1, software="A1 v1.0", serial="A1-0042"), "alice")
    add("other", jpeg("Canon", "EOS", (64, 48), 4), "dave")  # rejected: not in the export
    curate(catalog, data, registry, load_policy())
    [item] = catalog.accepted_items()
    assert (item.sha256, item.label, item.source, item.licence) == (sha, "Cam-A", "flickr", "CC BY 2.0")
    assert (item.author, item.page_url, item.url) == ("alice", "https://x.test/p/good", "https://x.test/good")
    assert (item.make, item.model, item.width, item.height) == ("Acme", "A1", 64, 48)
    assert item.subsampling is not None
    assert item.subsampling == read_facts(data / item.path).subsampling
    assert item.serial == "A1-0042"  # raw in the catalog; a manifest gets only its hash


def test_export_needs_current_verdicts(world, tmp_path: Path) -> None:
    registry, data, catalog, add = world
    with pytest.raises(CamidError, match="no accepted images"):
        export(catalog, data, "ds", registry, seed=0, per_class=1, fraction=None)
    add("good", jpeg("Acme", "A1", (64, 48), 1), "alice")
    curate(catalog, data, registry, load_policy())
    changed = tmp_path / "more.toml"
    extra = '[cameras.Cam-C]\nname = "C"\nmakes = ["C"]\nmodels = ["C"]\nsizes = ["90x90"]\n'
    changed.write_text(REGISTRY + extra)
    with pytest.raises(CamidError, match="run `camid curate`"):
        export(catalog, data, "ds", load_registry(changed), seed=0, per_class=1, fraction=None)
    with pytest.raises(CamidError, match="invalid dataset name"):
        export(catalog, data, "../escape", registry, seed=0, per_class=1, fraction=None)


@pytest.mark.slow  # three curator processes
@pytest.mark.parametrize("judging_only", [False, True], ids=["whole", "judging"])
def test_several_curators_at_once_leave_one_verdict_per_file(world, tmp_path: Path,
                                                             judging_only: bool) -> None:
    """Three whole ``curate`` runs started together on one catalog (processes, as on three
    machines): no error, every file read and judged, one verdict each, every accepted file hashed."""
    from sqlalchemy import text

    from flows.stages.curate import read_facts_claimed
    from tests.claimwork import curator, start_together

    _registry, data, catalog, add = world
    for i in range(300):
        add(f"f{i}", jpeg("Acme", "A1", (64, 48), i, quality=97 if i % 3 else 80), f"user{i % 7}")
    if judging_only:  # facts already read: the three go straight to judging, all at once
        read_facts_claimed(catalog, data)
    url = catalog.engine.url.render_as_string(hide_password=False)
    start_together(curator, [(url, str(data), str(tmp_path / "cams.toml"))] * 3)
    with catalog.engine.connect() as conn:
        count = lambda sql: conn.execute(text(sql)).scalar_one()  # noqa: E731
        assert count("SELECT count(*) FROM images WHERE reader_version IS NULL") == 0
        assert count("SELECT count(*) FROM verdicts") == 300
        assert count("SELECT count(*) FROM verdicts WHERE accepted") == 200
        assert count("SELECT count(*) FROM images i JOIN verdicts v ON v.image_id = i.id "
                     "WHERE v.accepted AND i.phash IS NULL") == 0
