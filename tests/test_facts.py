"""Facts from one header pass: agreement with exiftool/ImageMagick on real files, synthetic files,
the JSON form and the change-detection hash."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.evidence import EncoderSignature
from pipeline.facts import READER_VERSION, facts_from_json, facts_hash, facts_to_json, read_facts
from pipeline.records import ImageFacts
from tests import jpegs
from tests.conftest import REPO

# ---- the real sample set ---------------------------------------------------------------------

# exiftool prints Software "1.00" of this Casio file as "1.0" (it formats the value as a version
# number); the raw ASCII tag, which camid reports, is "1.00".
SOFTWARE_EXCEPTIONS = {"jpg/tests/35-empty.jpg": ("1.0", "1.00")}
# camid reports whether the raw MakerNote tag is there; exiftool says 0 where it cannot decode the
# vendor's MakerNote format. Everywhere else the two agree.
MAKERNOTE_ONLY_CAMID = {"jpg/PaintTool_sample.jpg", "jpg/Samsung_Digimax_i50_MP3.jpg",
                        "jpg/tests/45-gps_ifd.jpg"}


def _reference(realworld: Path) -> list[dict[str, str]]:
    with (realworld / "reference.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def _text(value: str | None) -> str:
    return (value or "").strip()


def test_real_samples_agree_with_exiftool_and_imagemagick(realworld: Path) -> None:
    rows = _reference(realworld)
    assert len(rows) == 88
    mismatches, makernote_disagreements = [], set()
    for row in rows:
        path = row["path"]
        facts = read_facts(realworld / path)
        assert facts.format == "jpeg" and facts.error is None, (path, facts.error)
        software = _text(row["software"])
        if path in SOFTWARE_EXCEPTIONS:
            reference, raw = SOFTWARE_EXCEPTIONS[path]
            assert software == reference  # the exception is still needed
            software = raw
        ours = {"make": _text(facts.make), "model": _text(facts.model), "software": _text(facts.software),
                "width": facts.width, "height": facts.height,
                "xmp_creatortool": _text(facts.xmp_creator_tool),
                "has_photoshop_irb": int(facts.has_photoshop_irb),
                "has_adobe_app14": int(facts.has_adobe_app14),
                "im_quality": facts.quality_imagemagick}
        theirs = {"make": _text(row["make"]), "model": _text(row["model"]), "software": software,
                  "width": int(row["width"]), "height": int(row["height"]),
                  "xmp_creatortool": _text(row["xmp_creatortool"]),
                  "has_photoshop_irb": int(row["has_photoshop_irb"]),
                  "has_adobe_app14": int(row["has_adobe_app14"]),
                  "im_quality": int(row["im_quality"])}
        mismatches += [(path, key, ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]]
        if row["has_makernotes"] == "1":
            assert facts.has_makernote, f"{path}: exiftool sees a MakerNote, camid does not"
        elif facts.has_makernote:
            makernote_disagreements.add(path)
    assert mismatches == []
    assert makernote_disagreements == MAKERNOTE_ONLY_CAMID


def test_real_iphone6_original(realworld: Path) -> None:
    facts = read_facts(realworld / "jpg/hdr/iphone_hdr_NO.jpg")
    assert (facts.make, facts.model, facts.software) == ("Apple", "iPhone 6", "8.3")
    assert (facts.width, facts.height) == (3264, 2448)
    assert facts.has_exif and facts.has_makernote and facts.has_eoi and not facts.truncated
    assert facts.corrupt is None and facts.quality == 96


# ---- synthetic files -------------------------------------------------------------------------


def _facts(tmp_path: Path, data: bytes, name: str = "x.jpg") -> ImageFacts:
    path = tmp_path / name
    path.write_bytes(data)
    return read_facts(path)


def test_synthetic_file_facts(tmp_path: Path) -> None:
    data = jpegs.make_jpeg((64, 48), quality=90, software="8.1.2", orientation=6)
    facts = _facts(tmp_path, data)
    assert facts.format == "jpeg" and facts.error is None and facts.corrupt is None
    assert (facts.width, facts.height, facts.exif_width, facts.exif_height) == (64, 48, 64, 48)
    assert (facts.make, facts.model, facts.software) == ("Apple", "iPhone 6", "8.1.2")
    assert facts.orientation == 6 and facts.datetime_original == "2015:06:01 12:00:00"
    assert facts.has_exif and not facts.has_makernote
    assert facts.has_eoi and not facts.truncated
    assert (facts.quality, facts.quality_imagemagick, facts.ijg_exact) == (90, 90, True)
    assert len(facts.quant_tables) == 2 and all(len(t) == 64 for t in facts.quant_tables)
    assert facts.xmp_creator_tool is None and facts.xmp_history_agents == ()
    assert not (facts.has_camera_raw or facts.has_photoshop_irb or facts.has_adobe_app14)


def test_no_exif(tmp_path: Path) -> None:
    facts = _facts(tmp_path, jpegs.make_jpeg(exif=False))
    assert not facts.has_exif and facts.make is None and facts.corrupt is None


def test_makernote_present_and_zero_stub(tmp_path: Path) -> None:
    assert _facts(tmp_path, jpegs.make_jpeg(makernote=b"Apple iOS\x00" + bytes(range(60)))).has_makernote
    assert not _facts(tmp_path, jpegs.make_jpeg(makernote=bytes(40))).has_makernote


def test_big_endian_hand_made_exif(tmp_path: Path) -> None:
    order = "big"
    tiff = jpegs.build_tiff(
        [jpegs.ascii_entry(jpegs.TAG_MAKE, "SONY"), jpegs.ascii_entry(jpegs.TAG_MODEL, "NEX-7"),
         jpegs.short_entry(jpegs.TAG_ORIENTATION, 8, order),
         jpegs.ascii_entry(jpegs.TAG_SOFTWARE, "NEX-7 v1.01")],
        [jpegs.long_entry(jpegs.TAG_EXIF_WIDTH, 6000, order),
         jpegs.long_entry(jpegs.TAG_EXIF_HEIGHT, 4000, order)],
        big_endian=True,
    )
    facts = _facts(tmp_path, jpegs.with_exif_tiff(jpegs.make_jpeg(exif=False), tiff.data))
    assert (facts.make, facts.model, facts.software, facts.orientation) == ("SONY", "NEX-7", "NEX-7 v1.01", 8)
    assert (facts.exif_width, facts.exif_height) == (6000, 4000)


TAG_BODY_SERIAL, TAG_CAMERA_SERIAL = 0xA431, 0xC62F


@pytest.mark.parametrize(("ifd0", "exif", "serial"), [
    ([], [jpegs.ascii_entry(TAG_BODY_SERIAL, "  062034001234 ")], "062034001234"),
    ([jpegs.ascii_entry(TAG_CAMERA_SERIAL, "DNG-7")], [], "DNG-7"),  # CameraSerialNumber in IFD0
    ([], [jpegs.ascii_entry(TAG_CAMERA_SERIAL, "X-7")], "X-7"),  # ... or in the EXIF IFD
    ([jpegs.ascii_entry(TAG_CAMERA_SERIAL, "DNG-7")], [jpegs.ascii_entry(TAG_BODY_SERIAL, "B-1")], "B-1"),
    ([jpegs.ascii_entry(TAG_BODY_SERIAL, "IFD0-1")], [], None),  # BodySerialNumber lives in the EXIF IFD
    ([], [jpegs.ascii_entry(TAG_BODY_SERIAL, "   ")], None),
    ([], [jpegs.ascii_entry(TAG_BODY_SERIAL, "0000000000")], "0000000000"),  # reported raw
], ids=["body", "camera-ifd0", "camera-exif", "body-first", "wrong-ifd", "blank", "placeholder"])
def test_serial_number(tmp_path: Path, ifd0, exif, serial: str | None) -> None:
    tiff = jpegs.build_tiff([jpegs.ascii_entry(jpegs.TAG_MAKE, "Canon"), *ifd0], exif)
    facts = _facts(tmp_path, jpegs.with_exif_tiff(jpegs.make_jpeg(exif=False), tiff.data))
    assert facts.corrupt is None and facts.make == "Canon"
    assert facts.serial == serial
    assert facts_from_json(json.loads(json.dumps(facts_to_json(facts)))).serial == serial


def test_no_serial_number(tmp_path: Path) -> None:
    assert _facts(tmp_path, jpegs.make_jpeg()).serial is None


def test_real_serial_numbers_agree_with_pillow(realworld: Path) -> None:
    from PIL import Image

    seen = 0
    for path in sorted(realworld.glob("jpg/**/*.jpg")):
        with Image.open(path) as image:
            exif = image.getexif()
            sub = exif.get_ifd(jpegs.TAG_EXIF_IFD)
            raw = sub.get(TAG_BODY_SERIAL) or exif.get(TAG_CAMERA_SERIAL) or sub.get(TAG_CAMERA_SERIAL)
        theirs = raw.split("\x00", 1)[0].strip() or None if isinstance(raw, str) else None
        assert read_facts(path).serial == theirs, path
        seen += theirs is not None
    assert seen  # the sample set has some


@pytest.mark.parametrize("element_form", [False, True])
def test_xmp_traces(tmp_path: Path, element_form: bool) -> None:
    xmp = jpegs.xmp_app1("Adobe Photoshop Lightroom 6.0 (Windows)",
                         ["Adobe Photoshop Camera Raw 9.0", "Adobe Photoshop Lightroom 6.0 (Windows)",
                          "Adobe Photoshop Camera Raw 9.0"], camera_raw=True, element_form=element_form)
    facts = _facts(tmp_path, jpegs.splice(jpegs.make_jpeg(), xmp))
    assert facts.xmp_creator_tool == "Adobe Photoshop Lightroom 6.0 (Windows)"
    # distinct agents, first-seen order
    assert facts.xmp_history_agents == ("Adobe Photoshop Camera Raw 9.0",
                                        "Adobe Photoshop Lightroom 6.0 (Windows)")
    assert facts.has_camera_raw
    assert facts.make == "Apple"  # the EXIF APP1 is still found among several APP1 segments


def test_xmp_namespace_declarations_alone_are_no_evidence(tmp_path: Path) -> None:
    facts = _facts(tmp_path, jpegs.splice(jpegs.make_jpeg(), jpegs.xmp_app1(
        history_agents=["X"], camera_raw=True, namespaces_only=True)))
    assert facts.xmp_history_agents == () and not facts.has_camera_raw and facts.xmp_creator_tool is None


def test_xmp_before_exif(tmp_path: Path) -> None:
    facts = _facts(tmp_path, jpegs.splice(jpegs.make_jpeg(), jpegs.xmp_app1("GIMP 2.8"), after_soi=True))
    assert facts.xmp_creator_tool == "GIMP 2.8" and facts.make == "Apple"


@pytest.mark.parametrize(
    ("resources", "iptc_only"),
    [(jpegs.IPTC_ONLY, True), (jpegs.IPTC_ONLY[:1], True), (jpegs.PHOTOSHOP_RESOURCES, False),
     ((jpegs.irb_resource(0x0404, jpegs.IPTC_RECORD, name=b"odd"), jpegs.irb_resource(0x0422, b"x")), False)],
)
def test_photoshop_app13(tmp_path: Path, resources, iptc_only: bool) -> None:
    facts = _facts(tmp_path, jpegs.splice(jpegs.make_jpeg(), jpegs.photoshop_app13(resources)))
    assert facts.has_photoshop_irb and facts.photoshop_iptc_only is iptc_only


def test_adobe_app14(tmp_path: Path) -> None:
    facts = _facts(tmp_path, jpegs.splice(jpegs.make_jpeg(), jpegs.adobe_app14()))
    assert facts.has_adobe_app14 and facts.error is None and facts.corrupt is None


def test_reading_is_bounded_by_the_header_not_the_pixels(tmp_path: Path) -> None:
    facts = _facts(tmp_path, jpegs.native_iphone6())
    assert (facts.width, facts.height) == jpegs.IPHONE6_SIZE and facts.quality == 96


# ---- JSON form and hash ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def rich_facts(tmp_path_factory) -> ImageFacts:
    """Facts with every kind of field filled: tables, agents, strings, bools."""
    data = jpegs.splice(jpegs.make_jpeg(quality=93, makernote=b"MakerNote\x00data" * 3),
                        jpegs.xmp_app1("GIMP 2.8", ["GIMP 2.8", "Snapseed"], camera_raw=True),
                        jpegs.photoshop_app13(), jpegs.adobe_app14())
    path = tmp_path_factory.mktemp("facts") / "rich.jpg"
    path.write_bytes(data)
    facts = read_facts(path)
    assert facts.quant_tables and facts.xmp_history_agents and facts.has_makernote
    return facts


def test_json_round_trip(rich_facts: ImageFacts) -> None:
    doc = facts_to_json(rich_facts)
    text = json.dumps(doc)  # plain JSON types only
    back = facts_from_json(json.loads(text))
    assert back == rich_facts
    assert isinstance(back.quant_tables, tuple) and isinstance(back.quant_tables[0], tuple)
    assert isinstance(back.xmp_history_agents, tuple)
    assert set(doc) == {f.name for f in dataclasses.fields(ImageFacts)}


def test_json_round_trip_of_an_unreadable_file(tmp_path: Path) -> None:
    facts = read_facts(tmp_path / "missing.jpg")
    assert facts_from_json(json.loads(json.dumps(facts_to_json(facts)))) == facts


def test_hash_is_stable(rich_facts: ImageFacts) -> None:
    digest = facts_hash(rich_facts)
    assert len(digest) == 64
    assert facts_hash(rich_facts) == digest
    assert facts_hash(facts_from_json(json.loads(json.dumps(facts_to_json(rich_facts))))) == digest
    assert facts_hash(dataclasses.replace(rich_facts)) == digest


def test_hash_is_the_same_in_another_process(tmp_path: Path) -> None:
    facts = ImageFacts(format="jpeg", width=3264, height=2448, make="Apple", model="iPhone 6",
                       xmp_history_agents=("a", "b"), quant_tables=((1,) * 64, (2,) * 64), quality=96)
    (tmp_path / "facts.json").write_text(json.dumps(facts_to_json(facts)))
    code = ("import json, sys; from pipeline.facts import facts_from_json, facts_hash; "
            "print(facts_hash(facts_from_json(json.load(open(sys.argv[1])))))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "facts.json")], capture_output=True,
                         text=True, cwd=REPO, env={**os.environ, "PYTHONHASHSEED": "12345"}, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == facts_hash(facts)


def _changed(value: object) -> object:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, EncoderSignature):
        return dataclasses.replace(value, markers=value.markers + " COM")
    if isinstance(value, str):
        return value + "x"
    if value is None:
        return 1
    if isinstance(value, tuple) and value and isinstance(value[0], tuple):
        return ((*value[0][:-1], value[0][-1] + 1), *value[1:])
    if isinstance(value, tuple):
        return (*value, "x")
    raise AssertionError(value)


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(ImageFacts)])
def test_hash_changes_with_every_field(rich_facts: ImageFacts, field: str) -> None:
    changed = dataclasses.replace(rich_facts, **{field: _changed(getattr(rich_facts, field))})
    assert changed != rich_facts
    assert facts_hash(changed) != facts_hash(rich_facts)


def test_hash_covers_the_reader_version(rich_facts: ImageFacts, monkeypatch) -> None:
    digest = facts_hash(rich_facts)
    monkeypatch.setattr("pipeline.facts_codec.READER_VERSION", READER_VERSION + 1)
    assert facts_hash(rich_facts) != digest
