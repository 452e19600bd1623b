"""The header stage's scan checks: the main image's end, trailers, and scans that cannot hold it.

Every damaged scan is made from a real Pillow-encoded file with camera-like content, so the
only thing wrong with it is what the case says.
"""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from pipeline.facts import facts_from_bytes
from pipeline.records import Reason
from pipeline.scan_checks import coefficient_bits, noise_floor_bpp
from pipeline.verdict import judge
from tests import jpegs

NATIVE = jpegs.IPHONE6_SIZE


@pytest.fixture(scope="module")
def original() -> bytes:
    return jpegs.native_iphone6()


def _scan(data: bytes) -> tuple[int, int]:
    """Offsets of the first scan byte and of the EOI."""
    sos = jpegs.find(data, jpegs.SOS)
    return sos.end, data.rindex(jpegs.EOI)


def _damaged(data: bytes, how: str) -> bytes:
    start, end = _scan(data)
    if how == "no scan":
        return data[:start] + jpegs.EOI
    if how == "cut to 10%":
        return data[:start + (end - start) // 10].rstrip(b"\xff") + jpegs.EOI
    if how == "zeroed":
        return data[:start] + bytes(end - start) + data[end:]
    if how == "random":
        import random

        noise = random.Random(7).randbytes(end - start)
        return data[:start] + noise + data[end:]
    raise AssertionError(how)


@pytest.mark.parametrize(("how", "reasons"), [
    ("no scan", {Reason.EMPTY_SCAN}),
    ("cut to 10%", {Reason.EMPTY_SCAN}),
    ("zeroed", {Reason.EMPTY_SCAN}),
    ("random", {Reason.CORRUPT}),
])
def test_a_scan_that_cannot_hold_the_image(original: bytes, how: str, reasons: set[Reason],
                                           registry, policy) -> None:
    facts = facts_from_bytes(_damaged(original, how))
    verdict = judge(facts, registry, policy)
    assert facts.error is None and facts.has_eoi
    assert reasons <= set(verdict.reasons), (how, verdict.reasons, verdict.details)
    for reason in reasons:
        assert verdict.detail(reason)  # the measured value is in the verdict


def test_measured_values_of_an_honest_scan(original: bytes, registry, policy) -> None:
    facts = facts_from_bytes(original)
    assert judge(facts, registry, policy).accepted
    assert facts.scan_bpp is not None and facts.scan_bpp > noise_floor_bpp(facts.quant_tables[0], 1.0)
    assert facts.scan_byte_variety is not None and facts.scan_byte_variety > 0.75
    assert facts.scan_bad_markers == 0 and facts.scans == 1 and facts.trailer_bytes == 0


def test_flat_frame_is_an_empty_scan(registry, policy) -> None:
    facts = facts_from_bytes(jpegs.make_jpeg(NATIVE, content="flat"))
    verdict = judge(facts, registry, policy)
    assert Reason.EMPTY_SCAN in verdict.reasons
    assert "bits/pixel" in (verdict.detail(Reason.EMPTY_SCAN) or "")


@pytest.mark.parametrize("trailer", [
    b"\x00" * 100,
    b"Nikon preview " * 5000,  # 70 KB: past the old 64 KB tail window
    b"\xff\xd8\xff\xe1\x00\x10MPF" + bytes(65536) + b"\xff\xd9" + bytes(300_000),  # an embedded JPEG
])
def test_long_camera_trailers_are_kept(original: bytes, trailer: bytes, registry, policy) -> None:
    facts = facts_from_bytes(original + trailer)
    assert facts.has_eoi and not facts.truncated and facts.trailer_bytes == len(trailer)
    assert judge(facts, registry, policy).accepted


def _with_restarts(interval: int) -> bytes:
    out = io.BytesIO()
    Image.fromarray(jpegs.camera_pixels((256, 192))).save(out, "JPEG", quality=96,
                                                          restart_marker_blocks=interval)
    return out.getvalue()


def test_restart_markers_are_counted_against_the_interval() -> None:
    facts = facts_from_bytes(_with_restarts(4))
    assert facts.restart_interval == 4 and facts.restart_out_of_order == 0
    assert facts.restart_markers == facts.restart_expected and facts.restart_markers > 0


@pytest.mark.parametrize("damage", ["drop one", "swap two"])
def test_broken_restart_sequence_is_corrupt(damage: str, policy, registry) -> None:
    data = _with_restarts(4)
    first = data.index(b"\xff\xd0")
    second = data.index(b"\xff\xd1")
    if damage == "drop one":
        data = data[:first] + data[first + 2:]
    else:
        data = bytearray(data)
        data[first + 1], data[second + 1] = 0xD1, 0xD0
        data = bytes(data)
    facts = facts_from_bytes(data)
    verdict = judge(facts, registry, policy)
    assert Reason.CORRUPT in verdict.reasons
    assert "restart markers" in (verdict.detail(Reason.CORRUPT) or "")


def test_progressive_scans_are_followed_to_the_end() -> None:
    out = io.BytesIO()
    Image.fromarray(jpegs.camera_pixels((256, 192))).save(out, "JPEG", quality=95, progressive=True)
    facts = facts_from_bytes(out.getvalue())
    assert facts.coding == "progressive" and facts.scans is not None and facts.scans > 1
    assert facts.has_eoi and facts.scan_bad_markers == 0 and facts.trailer_bytes == 0


def test_stray_marker_inside_the_scan(original: bytes, registry, policy) -> None:
    start, end = _scan(original)
    middle = (start + end) // 2
    data = original[:middle] + b"\xff\xc0" + original[middle:]  # an SOF inside entropy-coded data
    facts = facts_from_bytes(data)
    assert facts.scan_bad_markers == 1
    assert Reason.CORRUPT in judge(facts, registry, policy).reasons


@pytest.mark.parametrize(("step", "low", "high"), [
    (0.1, 4.0, 6.0),  # a quantizer a tenth of the noise keeps ~5 bits per coefficient
    (1.0, 1.9, 2.2),
    (4.0, 0.2, 0.5),
    (20.0, 0.0, 1e-6),  # far coarser than the noise: nothing survives
])
def test_bits_of_quantized_noise(step: float, low: float, high: float) -> None:
    assert low <= coefficient_bits(step) <= high


def test_noise_floor_falls_with_quality() -> None:
    from pipeline.quality import IJG_LUMINANCE, scale_ijg_table

    floors = [noise_floor_bpp(scale_ijg_table(IJG_LUMINANCE, q), 1.0) for q in (50, 75, 90, 95, 98)]
    assert floors == sorted(floors) and floors[-1] > 0.5 > floors[0]


def test_sof_length_is_parsed_by_camid(original: bytes) -> None:
    """Size comes from camid's own SOF parser (no Pillow), including big declared sizes."""
    sof = jpegs.find(original, jpegs.SOF0)
    assert struct.unpack(">HH", original[sof.offset + 5:sof.offset + 9]) == (2448, 3264)
    facts = facts_from_bytes(original)
    assert (facts.width, facts.height, facts.subsampling) == (3264, 2448, "4:2:0")
