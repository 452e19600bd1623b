"""Hostile files: every one gets facts and a verdict with the right reason, never an exception,
in bounded time and memory.

Time is bounded per case by its timeout marker (pytest-timeout), not by a wall-clock assert:
20 s a case (each takes well under a second on the 2-core machine), 30 s for the one that cuts a
file at every offset of its header (a few seconds). The inputs are large enough (megabytes of
fill, 16 MB headers, thousands of IFD pointers) that a byte-by-byte or quadratic reader would
take minutes, so such a regression fails its case instead of slowing the suite. Memory is
asserted with tracemalloc.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from pipeline.facts import read_facts
from pipeline.records import ImageFacts, Reason, Verdict
from pipeline.verdict import judge
from tests import jpegs
from tests.jpegs import Entry

MAX_PEAK = 64 * 2**20
MB = 2**20

pytestmark = pytest.mark.timeout(20)


@pytest.fixture(scope="module")
def original() -> bytes:
    """An untouched-looking native-size iPhone 6 file; accepted as it is."""
    return jpegs.native_iphone6()


def examine(path: Path, registry, policy) -> tuple[ImageFacts, Verdict]:
    """Facts and verdict of ``path``, asserting the peak memory of reading and judging it."""
    tracemalloc.start()
    try:
        facts = read_facts(path)
        verdict = judge(facts, registry, policy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_PEAK, f"{path.name}: peak {peak / MB:.1f} MB"
    return facts, verdict


@pytest.fixture
def check(tmp_path: Path, registry, policy):
    def run(data: bytes, name: str = "hostile.jpg") -> tuple[ImageFacts, Verdict]:
        path = tmp_path / name
        path.write_bytes(data)
        return examine(path, registry, policy)

    return run


def test_the_original_itself_is_accepted(check, original: bytes) -> None:
    _, verdict = check(original)
    assert verdict.accepted, verdict.reasons
    assert verdict.label == "iPhone-6"


# ---- not a JPEG, unreadable ------------------------------------------------------------------


def test_zero_byte_file(check) -> None:
    facts, verdict = check(b"")
    assert facts.format == "empty"
    assert verdict.reasons == (Reason.NOT_JPEG,)


@pytest.mark.parametrize(
    ("head", "fmt"),
    [(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "png"), (b"GIF89a\x01\x00\x01\x00", "gif"),
     (b"II*\x00\x08\x00\x00\x00", "tiff"), (b"RIFF\x10\x00\x00\x00WEBPVP8 ", "webp"),
     (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "heif"), (b"<html><body>", "unknown")],
)
def test_other_formats_named_jpg(check, head: bytes, fmt: str) -> None:
    facts, verdict = check(head + bytes(200))
    assert facts.format == fmt
    assert verdict.reasons == (Reason.NOT_JPEG,) and verdict.label is None


def test_real_png_renamed(check) -> None:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32)).save(out, format="PNG")
    facts, verdict = check(out.getvalue(), "photo.jpg")
    assert facts.format == "png" and verdict.reasons == (Reason.NOT_JPEG,)


def test_nonexistent_path(tmp_path: Path, registry, policy) -> None:
    facts, verdict = examine(tmp_path / "no-such-file.jpg", registry, policy)
    assert facts.format is None and "cannot read file" in (facts.error or "")
    assert verdict.reasons == (Reason.UNREADABLE,)


def test_directory_instead_of_file(tmp_path: Path, registry, policy) -> None:
    (tmp_path / "dir.jpg").mkdir()
    _, verdict = examine(tmp_path / "dir.jpg", registry, policy)
    assert verdict.reasons == (Reason.UNREADABLE,)


# ---- truncation ------------------------------------------------------------------------------


def _cut_points(data: bytes) -> dict[str, int]:
    segs = {s.marker: s for s in reversed(jpegs.segments(data))}  # first segment of each marker
    app1, dqt, sof, dht, sos = (segs[m] for m in (jpegs.APP1, jpegs.DQT, jpegs.SOF0, jpegs.DHT, jpegs.SOS))
    scan = len(data) - sos.end
    return {
        "inside SOI": 1, "after SOI": 2, "marker byte only": 3, "inside APP0 length": 5,
        "APP1 length": app1.offset + 3, "inside APP1 Exif prefix": app1.offset + 7,
        "inside APP1 IFD0": app1.offset + 30, "end of APP1 less one": app1.end - 1,
        "inside DQT": dqt.offset + 20, "inside SOF": sof.offset + 6, "inside DHT": dht.offset + 10,
        "inside SOS header": sos.offset + 6, "end of SOS header": sos.end,
        "scan 1 byte": sos.end + 1, "scan 10%": sos.end + scan // 10, "scan 50%": sos.end + scan // 2,
        "scan 90%": sos.end + scan * 9 // 10, "EOI cut in half": len(data) - 1,
    }


def test_truncation_points_are_where_they_say(original: bytes) -> None:
    cuts = _cut_points(original)
    assert len(set(cuts.values())) == len(cuts)
    assert original[-2:] == jpegs.EOI


@pytest.mark.parametrize("where", list(_cut_points(jpegs.native_iphone6())))
def test_truncated_anywhere(check, original: bytes, where: str) -> None:
    facts, verdict = check(original[:_cut_points(original)[where]])
    assert not verdict.accepted
    assert facts.format == "jpeg"
    assert facts.truncated and not facts.has_eoi
    if where.startswith(("scan", "EOI", "end of SOS")):
        # the header is whole, so everything else is still known: the only reason is truncation
        assert facts.error is None and facts.make == "Apple" and facts.quality == 96
        assert verdict.reasons == (Reason.TRUNCATED,)
    else:
        assert facts.error is not None
        assert verdict.reasons == (Reason.TRUNCATED,)


@pytest.mark.timeout(30)  # 1,500 cut files
def test_truncated_at_every_offset_of_the_header(check) -> None:
    """A small file with every kind of header segment, cut at each byte of its header."""
    data = jpegs.splice(jpegs.make_jpeg((32, 16)), jpegs.xmp_app1("x"), jpegs.photoshop_app13(),
                        jpegs.adobe_app14())
    header_end = jpegs.find(data, jpegs.SOS).end
    for length in range(1, header_end + 3):
        facts, verdict = check(data[:length])
        assert facts.format == "jpeg", length
        assert Reason.TRUNCATED in verdict.reasons and not verdict.accepted, (length, verdict.reasons)


# ---- absurd sizes, padding, fill, garbage ------------------------------------------------------


def test_absurd_declared_size_is_not_decoded(check, original: bytes) -> None:
    facts, verdict = check(jpegs.with_sof_size(original, 60000, 60000))
    assert (facts.width, facts.height) == (60000, 60000)  # tracemalloc: a decode would need 10 GB
    assert Reason.NON_NATIVE_SIZE in verdict.reasons
    assert Reason.EXIF_SIZE_MISMATCH in verdict.reasons
    assert not verdict.accepted


def test_megabytes_of_fill_bytes_between_segments(check, original: bytes) -> None:
    """0xFF fill before a marker is legal (T.81 B.1.1.2): skipped, not counted as corruption."""
    dqt, sos = jpegs.find(original, jpegs.DQT).offset, jpegs.find(original, jpegs.SOS).offset
    data = jpegs.insert_at(jpegs.insert_at(original, sos, b"\xff" * MB), dqt, b"\xff" * (5 * MB))
    facts, verdict = check(data)
    assert facts.corrupt is None and facts.error is None
    assert verdict.accepted, verdict.reasons


@pytest.mark.parametrize("count", [1, 65534, 65535, 65536, 65537, 5 * MB])
@pytest.mark.parametrize("byte", [0x00, 0xFF])
def test_padding_after_eoi(check, original: bytes, count: int, byte: int) -> None:
    """Padding after EOI is harmless, whatever its length: 65535 bytes put the EOI across the
    boundary of the 64 KB tail blocks (FF in one, D9 in the next)."""
    facts, verdict = check(jpegs.pad(original, count, byte))
    assert facts.has_eoi and not facts.truncated
    assert verdict.accepted, verdict.reasons


def test_huge_zero_padding_without_eoi_is_truncated(check, original: bytes) -> None:
    _, verdict = check(jpegs.pad(original[:-2], 5 * MB))
    assert verdict.reasons == (Reason.TRUNCATED,)


def test_garbage_right_after_soi(check, original: bytes) -> None:
    facts, verdict = check(jpegs.garbage_after_soi(original))
    assert facts.error is None and "extraneous bytes" in (facts.corrupt or "")
    assert facts.make == "Apple"  # the header after the garbage is still read
    assert verdict.reasons == (Reason.CORRUPT,)


def test_megabytes_of_garbage_after_soi(check, original: bytes) -> None:
    _, verdict = check(jpegs.garbage_after_soi(original, b"\x00" * (5 * MB)))
    assert verdict.reasons == (Reason.CORRUPT,)


def test_endless_garbage_is_cut_at_the_header_limit(check) -> None:
    facts, verdict = check(b"\xff\xd8" + b"\x00" * (20 * MB))
    assert "larger than 16 MB" in (facts.error or "")
    assert verdict.reasons == (Reason.CORRUPT,)


def test_header_over_16_mb(check) -> None:
    icc = jpegs.segment(0xE2, b"ICC_PROFILE\x00" + b"\x01" * 65000)
    data = jpegs.splice(jpegs.make_jpeg(), *[icc] * 280)  # 18 MB of APP2 segments
    assert len(data) > 17 * MB
    facts, verdict = check(data)
    assert facts.format == "jpeg"
    assert facts.error == "JPEG header larger than 16 MB"
    assert verdict.reasons == (Reason.CORRUPT,)


def test_too_many_segments(check) -> None:
    tiny = jpegs.segment(0xE3, b"")
    facts, verdict = check(jpegs.splice(jpegs.make_jpeg(), *[tiny] * 5000))
    assert "more than 4096 header segments" in (facts.error or "")
    assert verdict.reasons == (Reason.CORRUPT,)


def test_eoi_before_any_scan(check) -> None:
    data = jpegs.make_jpeg()
    facts, verdict = check(data[:jpegs.find(data, jpegs.SOF0).offset] + jpegs.EOI)
    assert "end of image before any scan" in (facts.error or "")
    assert verdict.reasons == (Reason.CORRUPT,)


def test_invalid_segment_length(check) -> None:
    data = jpegs.make_jpeg()
    dqt = jpegs.find(data, jpegs.DQT)
    facts, verdict = check(data[:dqt.offset + 2] + b"\x00\x01" + data[dqt.offset + 4:])
    assert "invalid length 1" in (facts.error or "")
    assert verdict.reasons == (Reason.CORRUPT,)


def test_unparseable_sof(check, original: bytes) -> None:
    sof = jpegs.find(original, jpegs.SOF0)
    data = original[:sof.offset] + jpegs.segment(jpegs.SOF0, b"\x08\x00") + original[sof.end:]
    facts, verdict = check(data)
    assert facts.error is not None and facts.width is None
    assert verdict.reasons == (Reason.CORRUPT,)


# ---- hostile EXIF ----------------------------------------------------------------------------


def _exif_sizes(order: str = "little") -> list[Entry]:
    return [jpegs.long_entry(jpegs.TAG_EXIF_WIDTH, 3264, order),
            jpegs.long_entry(jpegs.TAG_EXIF_HEIGHT, 2448, order)]


def test_hand_made_exif_is_read(check, original: bytes) -> None:
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes())
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert (facts.exif_width, facts.exif_height, facts.orientation) == (3264, 2448, 1)
    assert verdict.accepted, verdict.reasons


def test_next_ifd_pointing_to_itself(check, original: bytes) -> None:
    """IFD0 -> IFD0 -> ...: camid reads only IFD0 and the EXIF IFD, so the loop is never walked."""
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes(), ifd0_next=8)
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert facts.make == "Apple" and facts.exif_width == 3264 and facts.corrupt is None
    assert verdict.accepted, verdict.reasons


def test_exif_ifd_pointing_back_to_ifd0(check, original: bytes) -> None:
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes())
    pointer = tiff.entry_offset(tiff.ifd0, len(jpegs.camera_ifd0()))  # the EXIF pointer comes last
    tiff = tiff.patched(pointer + 8, tiff.ifd0, 4)
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert "loops back to IFD0" in (facts.corrupt or "")
    assert Reason.CORRUPT in verdict.reasons and not verdict.accepted


@pytest.mark.parametrize("which", ["ifd0", "exif"])
def test_huge_entry_count(check, original: bytes, which: str) -> None:
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes())
    tiff = tiff.patched(tiff.ifd0 if which == "ifd0" else tiff.exif_ifd, 0xFFFF, 2)  # type: ignore[arg-type]
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert "declares 65535 entries" in (facts.corrupt or "")
    assert Reason.CORRUPT in verdict.reasons and not verdict.accepted


def test_ifd_offset_outside_the_block(check, original: bytes) -> None:
    tiff = jpegs.build_tiff(jpegs.camera_ifd0()).patched(4, 0x7FFFFFF0, 4)
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert "outside the block" in (facts.corrupt or "")
    assert Reason.CORRUPT in verdict.reasons


def test_no_tiff_header(check, original: bytes) -> None:
    facts, verdict = check(jpegs.with_exif_tiff(original, b"XX\x00\x00garbage"))
    assert "no TIFF header" in (facts.corrupt or "")
    assert Reason.CORRUPT in verdict.reasons and Reason.NO_EXIF in verdict.reasons


def test_huge_value_counts(check, original: bytes) -> None:
    """Counts of 2**32-1 on strings, shorts, longs and the MakerNote: values are read no further
    than the 64 KB block, never 4 G times."""
    ifd0 = [Entry(jpegs.TAG_MAKE, jpegs.TYPE_ASCII, b"Apple\x00", count=0xFFFFFFFF),
            jpegs.ascii_entry(jpegs.TAG_MODEL, "iPhone 6"),
            Entry(jpegs.TAG_ORIENTATION, jpegs.TYPE_SHORT, b"\x01\x00" * 4, count=0xFFFFFFFF)]
    exif = [Entry(jpegs.TAG_MAKERNOTE, jpegs.TYPE_UNDEFINED, b"Apple iOS\x00" * 4, count=0xFFFFFFFF),
            Entry(jpegs.TAG_EXIF_WIDTH, jpegs.TYPE_LONG, (3264).to_bytes(4, "little") * 2, count=0xFFFFFFFF),
            jpegs.long_entry(jpegs.TAG_EXIF_HEIGHT, 2448)]
    tiff = jpegs.build_tiff(ifd0, exif)
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert facts.make == "Apple" and facts.model == "iPhone 6"
    assert facts.orientation is None and facts.exif_width is None and facts.exif_height == 2448
    assert not facts.has_makernote  # a MakerNote larger than the block is not there
    assert verdict.label == "iPhone-6"


def test_thousands_of_gps_pointers_to_a_huge_ifd(check, original: bytes) -> None:
    """IFD0 full of GPS IFD pointers, each to an IFD declaring 65535 entries past the end.

    exifread follows every sub-IFD pointer it meets without any check; before camid stopped it
    from seeing entries it does not need, this block took it over ten minutes."""
    gps = Entry(jpegs.TAG_GPS_IFD, jpegs.TYPE_LONG, None, 1, raw_field=0)
    count = 5000
    size = len(jpegs.build_tiff([*jpegs.camera_ifd0(), *[gps] * count], _exif_sizes()).data)
    pointer = Entry(jpegs.TAG_GPS_IFD, jpegs.TYPE_LONG, None, 1, raw_field=size)
    tiff = jpegs.build_tiff([*jpegs.camera_ifd0(), *[pointer] * count], _exif_sizes(), tail=b"\xff\xff")
    assert len(tiff.data) < 65000
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert facts.make == "Apple" and facts.exif_width == 3264
    assert verdict.accepted, verdict.reasons


def test_ifd_chain_with_huge_ifds(check, original: bytes) -> None:
    """IFD0's next IFD declares 65535 entries past the end: not camid's business (no thumbnail)."""
    size = len(jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes()).data)
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes(), ifd0_next=size, tail=b"\xff\xff")
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert facts.make == "Apple" and verdict.accepted, verdict.reasons


def test_several_exif_pointers(check, original: bytes) -> None:
    """Two EXIF IFD pointers: the last one counts (as exifread reads it), and only it is followed."""
    tiff = jpegs.build_tiff(jpegs.camera_ifd0(), _exif_sizes())
    bogus = Entry(jpegs.TAG_EXIF_IFD, jpegs.TYPE_LONG, None, 1, raw_field=60000)
    tiff = jpegs.build_tiff([*jpegs.camera_ifd0(), bogus], _exif_sizes())
    facts, verdict = check(jpegs.with_exif_tiff(original, tiff.data))
    assert facts.exif_width == 3264 and facts.corrupt is None
    assert verdict.accepted, verdict.reasons
