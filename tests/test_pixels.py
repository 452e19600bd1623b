"""Pixel-stage detectors on images made for each case, and the stage on files (table-driven).

Each detector gets a case it must flag and the same image without the alteration, so a detector
that always or never fires fails here. The rates on real originals are in test_pixeltrue.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from pipeline import dct_detectors, detectors, noise_level, stability
from pipeline.facts import facts_from_bytes
from pipeline.pixel_checks import pixel_findings
from pipeline.pixels import colour_eighth, decode_luma, measure
from pipeline.quality import IJG_LUMINANCE, scale_ijg_table
from pipeline.records import Reason
from tests import jpegs

SIZE = (640, 480)


def camera_like(seed: int = 0, size: tuple[int, int] = SIZE) -> np.ndarray:
    """Detail at every scale plus noise: what a camera original's pixels look like."""
    rng = np.random.default_rng(seed)
    width, height = size
    out = np.zeros((height, width), np.float32)
    for scale in (64, 16, 4):
        coarse = rng.normal(0, 30 if scale == 64 else 12, (height // scale + 2, width // scale + 2))
        layer = Image.fromarray(coarse.astype(np.float32)).resize(
            (width + 2 * scale, height + 2 * scale), Image.Resampling.BICUBIC)
        out += np.asarray(layer)[:height, :width]
    out += rng.normal(0, 2.5, (height, width))
    grey = np.clip(out + 128, 0, 255).astype(np.uint8)
    return np.stack([grey, grey, grey], axis=-1)


def encoded(pixels: np.ndarray, quality: int = 96, **options: object) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality, **options)
    return out.getvalue()


def luma_of(data: bytes) -> np.ndarray:
    luma, warning = decode_luma(data)
    assert luma is not None and warning is None
    return luma


@pytest.fixture(scope="module")
def original() -> np.ndarray:
    return camera_like()


def test_resampling_score(original: np.ndarray) -> None:
    small = Image.fromarray(original).resize((320, 240), Image.Resampling.BICUBIC)
    resampled = np.asarray(small.resize(SIZE, Image.Resampling.BICUBIC))
    before, after = (detectors.resampling_score(luma_of(encoded(p))) for p in (original, resampled))
    assert before < 0.05 < 0.15 < after


def test_resampling_score_survives_a_sharp_patch(original: np.ndarray) -> None:
    """A sharp, busy patch pasted into an interpolated photo outweighs it in a pooled ratio; the
    median line still reads the host's pattern."""
    small = Image.fromarray(original).resize((320, 240), Image.Resampling.BICUBIC)
    resampled = np.asarray(small.resize(SIZE, Image.Resampling.BICUBIC)).copy()
    busy = np.random.default_rng(3).integers(0, 256, (120, 120), dtype=np.uint8)
    resampled[180:300, 260:380] = busy[..., None]
    assert detectors.resampling_score(luma_of(encoded(resampled))) > 0.15


def test_smoothing_score(original: np.ndarray) -> None:
    blurred = original.copy()
    region = Image.fromarray(original[100:356, 200:456]).filter(ImageFilter.GaussianBlur(2))
    blurred[100:356, 200:456] = np.asarray(region)
    table = scale_ijg_table(IJG_LUMINANCE, 96)
    before, after = (dct_detectors.smoothing_score(luma_of(encoded(p)), table, 96)
                     for p in (original, blurred))
    assert before < 0.3 and after > 0.7


def _blurred(pixels: np.ndarray, box: tuple[int, int, int, int], radius: float) -> np.ndarray:
    top, left, bottom, right = box
    out = pixels.copy()
    region = Image.fromarray(pixels[top:bottom, left:right]).filter(ImageFilter.GaussianBlur(radius))
    out[top:bottom, left:right] = np.asarray(region)
    return out


def _scene(seed: int = 3) -> np.ndarray:
    """Sharp-edged shapes on a textured, noisy ground: edges everywhere, as in a street photo."""
    rng = np.random.default_rng(seed)
    grey = camera_like(seed)[..., 0].astype(np.int16)
    for _ in range(60):
        y, x = int(rng.integers(0, 440)), int(rng.integers(0, 600))
        grey[y:y + int(rng.integers(12, 40)), x:x + int(rng.integers(12, 40))] += int(rng.choice([-60, 60]))
    grey = np.clip(grey, 20, 235).astype(np.uint8)
    return np.stack([grey, grey, grey], axis=-1)


def _blown_sky() -> np.ndarray:
    """A plain wall with sharp-edged panels under a sky that rolls off into 255 over a few rows:
    the roll-off's tiles would read as a 4-px blur (1.1 px above the panels' edges) if tiles
    touching clipped pixels counted."""
    rng = np.random.default_rng(1)
    grey = 110 + rng.normal(0, 0.8, (480, 640))
    for _ in range(40):
        y, x = int(rng.integers(240, 440)), int(rng.integers(0, 600))
        grey[y:y + 30, x:x + 30] += 50
    weight = 1 / (1 + np.exp(np.clip((np.arange(480.0)[:, None] - 150) / 3, -50, 50)))
    sky = np.clip(grey * (1 - weight) + 300 * weight, 0, 255).astype(np.uint8)
    return np.stack([sky, sky, sky], axis=-1)


@pytest.mark.parametrize(("case", "low", "high"), [
    ("unaltered", 0.0, 0.6),
    ("whole image blurred alike", 0.0, 0.6),  # nothing wider than the image's own edges
    ("region blurred, radius 2", 1.2, 4.0),
    ("region blurred, radius 3", 1.8, 4.0),
    ("roll-off into a blown sky", 0.0, 0.5),
])
def test_edge_blur_score(case: str, low: float, high: float) -> None:
    scene = _scene()
    pixels = {
        "unaltered": scene,
        "whole image blurred alike": _blurred(scene, (0, 0, 480, 640), 2),
        "region blurred, radius 2": _blurred(scene, (100, 200, 356, 456), 2),
        "region blurred, radius 3": _blurred(scene, (100, 200, 356, 456), 3),
    }.get(case)
    if pixels is None:  # the top third rolls off softly into a blown-out sky (255): soft, not blurred
        pixels = _blown_sky()
    score = detectors.edge_blur_score(luma_of(encoded(pixels)))
    assert low <= score <= high, (case, score)


def test_edge_blur_needs_edges() -> None:
    flat = np.full((240, 320), 128, np.uint8)
    assert detectors.edge_blur_score(flat) == 0.0


def _ramp(noise: float, seed: int = 5) -> np.ndarray:
    """A smooth scene whose fine detail is its noise (a quiet camera's sky or wall)."""
    yy, xx = np.mgrid[0:480, 0:640].astype(np.float32)
    scene = 60 + 120 * xx / 640 + 30 * np.sin(yy / 90)
    return scene + np.random.default_rng(seed).normal(0, noise, scene.shape)


@pytest.mark.parametrize(("case", "low", "high"), [
    ("unaltered", 0.0, 0.5),
    ("a patch four times noisier", 1.9, 4.0),  # log2(4 / 0.8) = 2.3
    ("a patch of fine texture, no more noise", 0.0, 0.5),  # correlated residual: not noise
    ("evenly noisy", 0.0, 0.5),
])
def test_noise_excess_score(case: str, low: float, high: float) -> None:
    grey = _ramp(4.0) if case == "evenly noisy" else _ramp(0.8)
    rng = np.random.default_rng(6)
    if case.startswith("a patch four"):
        grey[120:320, 200:400] += rng.normal(0, 4.0, (200, 200))
    if case.startswith("a patch of fine"):
        yy, xx = np.mgrid[0:200, 0:200]
        grey[120:320, 200:400] += 25 * np.sin(xx / 2.0) * np.sin(yy / 3.0)
    pixels = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    score = detectors.noise_excess_score(luma_of(encoded(pixels)))
    assert low <= score <= high, (case, score)


@pytest.mark.parametrize("quality", [96, 77])
@pytest.mark.parametrize(("case", "low", "high"), [
    ("unaltered", 0.0, 0.5),
    ("a patch four times cleaner", 1.5, 3.0),  # log2(4 / 1) = 2
    ("evenly clean", 0.0, 0.5),
    ("a blown highlight", 0.0, 0.5),  # clipped: flat without being clean
    ("a flat, saturated colour", 0.0, 0.5),  # a clipped channel: left out by its colour
])
def test_noise_deficit_score(case: str, low: float, high: float, quality: int) -> None:
    grey = _ramp(0.8) if case == "evenly clean" else _ramp(4.0)
    if case == "a patch four times cleaner":
        clean = np.random.default_rng(7).normal(0, 1.0, (200, 200))
        grey[120:320, 200:400] = _ramp(0.0)[120:320, 200:400] + clean
    if case == "a blown highlight":
        grey[120:320, 200:400] = 255
    pixels = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    if case == "a flat, saturated colour":
        pixels[120:320, 200:400] = (255, 120, 0)
    data = encoded(pixels, quality=quality)
    score = noise_level.noise_deficit_score(luma_of(data), colour_eighth(data))
    assert low <= score <= high, (case, quality, score)


def test_noise_deficit_needs_the_colour_to_leave_out_clipped_channels() -> None:
    pixels = np.repeat(np.clip(_ramp(4.0), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    pixels[120:320, 200:400] = (255, 120, 0)  # luma 108: mid-grey, flat only because red clipped
    luma = luma_of(encoded(pixels))
    assert noise_level.noise_deficit_score(luma, None) > 1.05  # what the colour test prevents
    assert noise_level.noise_deficit_score(luma[:150, :150], None) == 0.0  # under one region


def _own_tables_save(like: bytes, pixels: np.ndarray) -> bytes:
    """``pixels`` saved with the tables of ``like`` (as a forger keeps a camera's tables)."""
    with Image.open(io.BytesIO(like)) as im:
        tables = [list(t) for t in im.quantization.values()]
    out = io.BytesIO()  # no quality: Pillow would scale the given tables by it
    Image.fromarray(pixels).save(out, "JPEG", qtables=tables, subsampling=2)
    return out.getvalue()


def _stability(data: bytes) -> float | None:
    return stability.stability_excess(luma_of(data), facts_from_bytes(data).quant_tables[0],
                                      colour_eighth(data))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(("case", "low", "high"), [
    ("saved once", 0.0, 0.6),
    ("re-saved whole with its own tables", 0.0, 0.9),  # benign: every block round-tripped alike
    ("a patch of another image pasted, saved with its tables", 1.1, 4.0),
    ("a patch moved off the grid, saved with its tables", 1.0, 4.0),
])
def test_stability_excess(seed: int, case: str, low: float, high: float) -> None:
    once = encoded(camera_like(seed), quality=95)
    pixels = np.asarray(Image.open(io.BytesIO(once)).convert("RGB"))
    edited = pixels.copy()
    if case.startswith("a patch of another"):
        edited[120:360, 200:440] = camera_like(seed + 9)[120:360, 200:440]
    if case.startswith("a patch moved"):
        edited[120:360, 203:443] = pixels[200:440, 10:250]
    data = once if case == "saved once" else _own_tables_save(once, edited)
    score = _stability(data)
    assert score is not None and low <= score <= high, (case, score)


def test_stability_needs_fine_tables() -> None:
    """Below about quality 90 a round trip changes too few blocks to compare regions: None."""
    assert _stability(encoded(camera_like(), quality=85)) is None
    assert _stability(encoded(camera_like(size=(160, 120)), quality=95)) is None  # under one region
    luma = luma_of(encoded(camera_like(), quality=95))
    assert stability.stability_excess(luma, (0,) * 64, None) is None  # a broken table
    assert stability.stability_excess(luma, (300,) * 64, None) is None  # 16-bit steps


def test_colour_eighth_is_one_pixel_per_block() -> None:
    colour = np.zeros((100, 130, 3), np.uint8)
    colour[..., 0] = 250  # a saturated red: what the stability test's clipping mask must see
    eighth = colour_eighth(encoded(colour))
    assert eighth is not None and eighth.shape == (13, 17, 3) and eighth[..., 0].min() >= 240
    assert colour_eighth(encoded(colour[..., 1])) is None  # a greyscale JPEG: the luma says it all
    assert colour_eighth(b"not a jpeg") is None


def test_copy_move_score(original: np.ndarray) -> None:
    copied = original.copy()
    copied[40:200, 300:460] = original[250:410, 43:203]  # off the 8-pixel grid
    before, after = (detectors.copy_move_score(luma_of(encoded(p))) for p in (original, copied))
    assert before < 0.001 < 0.01 < after


def test_flat_fraction(original: np.ndarray) -> None:
    assert detectors.flat_fraction(luma_of(encoded(original))) < 0.01
    grey = np.full_like(original, 128)
    assert detectors.flat_fraction(luma_of(encoded(grey))) == 1.0
    clipped = np.full_like(original, 255)  # blown highlights have no noise either: not counted
    assert detectors.flat_fraction(luma_of(encoded(clipped))) == 0.0


def test_recompression_score(original: np.ndarray) -> None:
    once = encoded(original, quality=96)
    twice = encoded(np.asarray(Image.open(io.BytesIO(encoded(original, quality=70))).convert("RGB")), 96)
    table = scale_ijg_table(IJG_LUMINANCE, 96)
    before, after = (dct_detectors.recompression_score(luma_of(d), table) for d in (once, twice))
    assert before < 0.15 < 0.3 < 0.5 < after


def test_thumbnail_mismatch(original: np.ndarray) -> None:
    luma = luma_of(encoded(original))
    thumb = np.asarray(Image.fromarray(luma).resize((160, 120), Image.Resampling.BOX))
    same = detectors.thumbnail_mismatch(luma, thumb)
    edited = thumb.copy()
    edited[30:70, 60:110] = 255 - edited[30:70, 60:110]
    other = detectors.thumbnail_mismatch(luma, edited)
    assert same is not None and other is not None
    assert same[0] < 2 and same[1] < 4 and other[1] > 40
    assert detectors.thumbnail_mismatch(luma, thumb[:, :100]) is None  # another aspect: not the image's


@pytest.mark.parametrize(("damage", "reason"), [
    ("cut", Reason.EMPTY_SCAN),  # libjpeg: premature end of data segment
    ("garbage", Reason.CORRUPT),
])
def test_decode_warnings_are_findings(original: np.ndarray, damage: str, reason: Reason, full_policy) -> None:
    data = encoded(original)
    sos = jpegs.find(data, jpegs.SOS).end
    if damage == "cut":
        data = data[:sos + (len(data) - sos) // 3] + jpegs.EOI
    else:
        middle = (sos + len(data)) // 2
        data = data[:middle] + bytes(range(256)) * 8 + data[middle + 2048:]
    pixels = measure(data, facts_from_bytes(data))
    assert pixels.decode_warning
    assert reason in {r for r, _ in pixel_findings(pixels, full_policy)}


def test_measure_reports_every_value_and_hash(original: np.ndarray, full_policy) -> None:
    data = encoded(original)
    pixels = measure(data, facts_from_bytes(data))
    assert pixels.decoder.startswith("libjpeg-turbo") and pixels.phash and len(pixels.phash) == 16
    for value in (pixels.flat_fraction, pixels.resampling, pixels.smoothing, pixels.edge_blur,
                  pixels.noise_excess, pixels.noise_deficit, pixels.copy_move, pixels.recompression,
                  pixels.stability):
        assert value is not None
    assert pixels.thumbnail_error is None and "no JPEG thumbnail" in pixels.notes[0]
    assert pixel_findings(pixels, full_policy) == []


def test_no_decode_above_the_size_limit() -> None:
    data = jpegs.with_sof_size(encoded(camera_like(size=(64, 48))), 60000, 60000)
    pixels = measure(data, facts_from_bytes(data))
    assert pixels.flat_fraction is None and "decode limit" in pixels.notes[0]
