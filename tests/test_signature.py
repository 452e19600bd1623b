"""Encoder signatures: each part read from files whose writer is known, table-driven."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from pipeline.evidence import EncoderSignature
from pipeline.facts import facts_from_bytes, read_facts
from pipeline.jpeg_segments import read_header
from pipeline.jpeg_tables import parse_huffman_tables
from pipeline.makernote import makernote_offsets
from pipeline.signature import (
    PARTS,
    differing_parts,
    huffman_part,
    marker_sequence,
    standard_huffman,
)
from tests import jpegs


def _pillow(**options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(jpegs.camera_pixels((128, 96))).save(out, "JPEG", **options)
    return out.getvalue()


def _signature(data: bytes) -> EncoderSignature:
    signature = facts_from_bytes(data).signature
    assert signature is not None
    return signature


@pytest.mark.parametrize(("options", "part", "value"), [
    ({"quality": 90}, "markers", "APP0:JFIF DQT:0 DQT:1 SOF0 DHT:00 DHT:10 DHT:01 DHT:11 SOS"),
    ({"quality": 90}, "tables", "ijg:90"),
    ({"quality": 90}, "huffman", "standard"),
    ({"quality": 90, "optimize": True}, "huffman", None),  # custom:..., checked below
    ({"quality": 90}, "coding", "baseline 8bit dri=0"),
    ({"quality": 90, "progressive": True}, "coding", "progressive 8bit dri=0"),
    ({"quality": 90, "restart_marker_blocks": 4}, "coding", "baseline 8bit dri=4"),
    ({"quality": 90, "subsampling": 0}, "sampling", "4:4:4 1:1x1,2:1x1,3:1x1"),
    ({"quality": 90, "subsampling": 1}, "sampling", "4:2:2 1:2x1,2:1x1,3:1x1"),
    ({"quality": 90, "subsampling": 2}, "sampling", "4:2:0 1:2x2,2:1x1,3:1x1"),
    ({"quality": 90}, "exif", "none"),
    ({"quality": 90}, "thumbnail", "none"),
    ({"quality": 90}, "makernote", "none"),
])
def test_signature_parts_of_libjpeg_files(options: dict, part: str, value: str | None) -> None:
    got = getattr(_signature(_pillow(**options)), part)
    if value is None:
        assert got.startswith("custom:")
    else:
        assert got == value


def test_tables_that_are_not_libjpegs_are_hashed() -> None:
    tables = [[2 + (i % 3) for i in range(64)], [3 + (i % 2) for i in range(64)]]
    sig = _signature(_pillow(qtables=tables))
    assert sig.tables.startswith("sha:") and len(sig.tables) == 16


def test_a_duplicate_third_table_quantizes_alike() -> None:
    """Tables are compared per component: a camera's duplicate chroma table is not a difference."""
    base = _signature(_pillow(quality=92))
    tables = [list(t) for t in Image.open(io.BytesIO(_pillow(quality=92))).quantization.values()]
    assert base.tables == "ijg:92" and len(tables) == 2


def test_exif_layout_and_thumbnail() -> None:
    """Pillow writes EXIF big-endian, without a thumbnail; a camera-style block has IFD1 and one."""
    from datetime import datetime

    from flows.demo.exif import camera_exif, thumbnail_of

    sig = _signature(jpegs.make_jpeg((64, 48)))
    assert sig.exif == "MM@8 0 exif" and sig.markers.startswith("APP0:JFIF APP1:Exif")
    pixels = jpegs.camera_pixels((320, 240))
    exif = camera_exif("Acme", "A1", "A1 1.0", datetime(2024, 1, 2), (320, 240), thumbnail_of(pixels))
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95, exif=exif)
    facts = facts_from_bytes(out.getvalue())
    assert facts.signature is not None and facts.signature.exif == "II@8 0 exif 1"
    assert facts.signature.thumbnail.startswith("160x120:")
    assert facts.thumbnail_offset is not None and facts.thumbnail_length
    thumb = out.getvalue()[facts.thumbnail_offset:facts.thumbnail_offset + facts.thumbnail_length]
    assert thumb.startswith(b"\xff\xd8") and thumb.endswith(b"\xff\xd9")


def test_signature_id_compares_part_by_part() -> None:
    a = _signature(_pillow(quality=90))
    b = _signature(_pillow(quality=90, progressive=True))
    c = _signature(_pillow(quality=80, subsampling=0))
    assert len(a.id.split("-")) == len(PARTS) and a.id != b.id
    assert set(differing_parts(a.id, b.id)) <= {"coding", "huffman", "markers"}
    assert {"tables", "sampling"} <= set(differing_parts(a.id, c.id))
    assert differing_parts(a.id, a.id) == ()


def test_standard_huffman_tables_are_annex_k() -> None:
    """The counts of code lengths of T.81 Tables K.3-K.6 (DC/AC, luminance/chrominance)."""
    counts = {bytes(c) for tables in standard_huffman().values() for c, _ in tables}
    assert counts == {
        bytes([0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]),
        bytes([0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0]),
        bytes([0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]),
        bytes([0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77]),
    }


def test_standard_huffman_tables_are_what_libjpeg_writes() -> None:
    """Every symbol too: the written-out tables equal those in a file libjpeg writes unoptimised."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16)).save(out, "JPEG", quality=90, optimize=False)
    written: dict[int, set[tuple[bytes, bytes]]] = {0: set(), 1: set()}
    for segment in parse_huffman_tables(read_header(out.getvalue()).segments):
        for table in segment:
            written[table.cls].add((table.counts, table.symbols))
    assert standard_huffman() == {cls: frozenset(pairs) for cls, pairs in written.items()}
    assert huffman_part(parse_huffman_tables(read_header(out.getvalue()).segments)) == "standard"


def test_marker_sequence_names_app_segments() -> None:
    data = jpegs.splice(jpegs.make_jpeg(), jpegs.xmp_app1("x"), jpegs.photoshop_app13(), jpegs.adobe_app14())
    seq = marker_sequence(read_header(data).segments)
    assert seq.startswith("APP0:JFIF APP1:Exif APP1:XMP APP13:Photoshop APP14:Adobe DQT:0 DQT:1 SOF0")


def _canon_style_note(offset_base: int, length: int = 64) -> bytes:
    """A MakerNote IFD with one out-of-line ASCII entry, its offset TIFF-relative."""
    count = 1
    entry = (0x0006).to_bytes(2, "little") + (2).to_bytes(2, "little") + (10).to_bytes(4, "little") \
        + (offset_base + 2 + 12 * count + 4).to_bytes(4, "little")
    body = count.to_bytes(2, "little") + entry + bytes(4) + b"Canon EOS\x00"
    return body.ljust(length, b"\x00")


@pytest.mark.parametrize(("moved_by", "expected"), [(0, "inside"), (4096, "outside")])
def test_makernote_offsets_inside_or_moved(moved_by: int, expected: str) -> None:
    start = 200
    note = _canon_style_note(start)
    tiff = bytes(start + moved_by) + note
    assert makernote_offsets(tiff, start + moved_by, len(note), "little") == expected


def test_makernote_without_an_ifd_is_opaque() -> None:
    assert makernote_offsets(b"KDK" + bytes(200), 0, 200, "little") == "opaque"


def test_real_files_signatures(realworld: Path) -> None:
    iphone = read_facts(realworld / "jpg/hdr/iphone_hdr_NO.jpg").signature
    assert iphone is not None
    assert iphone.markers == "APP1:Exif DQT:0,1 DRI SOF0 DHT:00,10,01,11 SOS"
    assert iphone.huffman == "standard" and iphone.coding == "baseline 8bit dri=204"
    assert iphone.thumbnail.startswith("160x120:") and iphone.makernote == "inside"
    gimp = read_facts(realworld / "jpg/Canon_40D.jpg").signature
    assert gimp is not None and gimp.markers.startswith("APP0:JFIF") and gimp.tables == "ijg:65"
    assert gimp.huffman.startswith("custom:")  # GIMP optimises its Huffman tables
