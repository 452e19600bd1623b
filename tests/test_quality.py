"""JPEG quality from quantization tables: ImageMagick 6.9.11 compatibility, corrections, IJG exactness."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from pipeline.jpeg_segments import Segment, read_header
from pipeline.jpeg_tables import TableError, parse_quant_tables
from pipeline.quality import (
    IMAGEMAGICK_UNDECIDED,
    QualityEstimate,
    estimate_quality,
    imagemagick_reference,
    imagemagick_search,
    nearest_ijg_quality,
)

# Annex K tables, natural order, written out again here so the tests do not trust the module's copy.
LUMINANCE = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
             14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
             18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
             49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
CHROMINANCE = [99] * 64
for _row, _values in enumerate(([17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56], [47, 66])):
    CHROMINANCE[_row * 8:_row * 8 + len(_values)] = _values

IJG_DIGEST = re.compile(r"Independent JPEG Group library .*, Quality (\d+)$")


def libjpeg_table(basic: list[int], quality: int) -> list[int]:
    """jpeg_quality_scaling + jpeg_add_quant_table(force_baseline=TRUE), as in libjpeg's jcparam.c."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    return [min(max((value * scale + 50) // 100, 1), 255) for value in basic]


def ijg(quality: int) -> list[list[int]]:
    return [libjpeg_table(LUMINANCE, quality), libjpeg_table(CHROMINANCE, quality)]


@pytest.mark.parametrize("quality", [50, 75, 90, 95, 100])
def test_standard_ijg_tables_give_their_quality(quality: int) -> None:
    assert estimate_quality(ijg(quality)) == QualityEstimate(quality, quality, True, quality)


@pytest.mark.parametrize("quality", [50, 75, 90, 95, 100])
def test_greyscale_single_table(quality: int) -> None:
    assert estimate_quality(ijg(quality)[:1]) == QualityEstimate(quality, quality, True, quality)


@pytest.mark.parametrize("quality", [75, 90, 95])
def test_duplicate_third_table_lowers_imagemagick_only(quality: int) -> None:
    """IM adds table 2 into its sum (as seen on Nikon/Fujifilm/Sanyo files); corrected ignores it."""
    luminance, chrominance = ijg(quality)
    estimate = estimate_quality([luminance, chrominance, list(chrominance)])
    assert estimate.imagemagick is not None
    assert estimate.imagemagick < quality
    assert estimate.corrected == quality
    assert (estimate.ijg_exact, estimate.ijg_quality) == (True, quality)


def test_perturbed_table_is_not_ijg_exact() -> None:
    luminance, chrominance = ijg(75)
    luminance[10] += 1
    estimate = estimate_quality([luminance, chrominance])
    assert (estimate.ijg_exact, estimate.ijg_quality) == (False, None)
    assert estimate.imagemagick == estimate.corrected == 75


def test_third_table_that_differs_is_not_ijg_exact() -> None:
    luminance, chrominance = ijg(90)
    assert estimate_quality([luminance, chrominance, luminance]).ijg_exact is False


def test_undecided_imagemagick_prints_92_and_corrected_uses_nearest_ijg() -> None:
    """Quality-30 tables with tiny hash coefficients: hash and sum disagree below index 50."""
    luminance, chrominance = ijg(30)
    luminance[2] = luminance[53] = 1
    tables = [luminance, chrominance]
    assert imagemagick_search(tables) is None
    estimate = estimate_quality(tables)
    assert estimate.imagemagick == IMAGEMAGICK_UNDECIDED == 92
    assert estimate.corrected == nearest_ijg_quality(tables) == 30
    assert estimate.ijg_exact is False


def test_approximate_match_from_index_50_is_accepted() -> None:
    luminance, chrominance = ijg(90)
    luminance[2] += 1  # hash just above the quality-90 reference, sum still below it
    assert imagemagick_search([luminance, chrominance]) == 90


def test_empty_input_gives_all_none() -> None:
    assert estimate_quality([]) == QualityEstimate(None, None, None, None)


def test_wrong_table_length_is_refused() -> None:
    with pytest.raises(ValueError, match="63 entries"):
        estimate_quality([[1] * 63])


def test_derived_reference_arrays_match_imagemagick() -> None:
    """Anchors from coders/jpeg.c (6.9.11) hash[]/sums[], colour and greyscale, index = quality - 1."""
    colour_hash, colour_sums = imagemagick_reference(colour=True)
    grey_hash, grey_sums = imagemagick_reference(colour=False)
    for index, expected in {0: (1020, 32640), 49: (247, 9193), 74: (125, 4638), 99: (4, 128)}.items():
        assert (colour_hash[index], colour_sums[index]) == expected
    for index, expected in {0: (510, 16320), 49: (131, 3688), 74: (66, 1858), 99: (2, 64)}.items():
        assert (grey_hash[index], grey_sums[index]) == expected


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize("quality", [10, 50, 75, 90, 95, 100])
def test_camids_tables_are_natural_order(mode: str, quality: int) -> None:
    """libjpeg writes IJG tables in zigzag order; camid's parser reads them back in natural order,
    as Pillow's does (two independent parsers)."""
    buffer = io.BytesIO()
    Image.new(mode, (16, 16)).save(buffer, "JPEG", quality=quality)
    tables = parse_quant_tables(read_header(buffer.getvalue()).segments)
    assert [list(table) for table in tables] == ijg(quality)[: len(tables)]
    pillow = Image.open(buffer).quantization
    assert [list(pillow[i]) for i in sorted(pillow)] == [list(t) for t in tables]
    assert estimate_quality(tables).ijg_quality == quality


def test_table_ids_with_gaps_are_refused() -> None:
    luminance, chrominance = ijg(80)
    tables = {0: luminance, 2: chrominance}
    dqt = b"".join(bytes((i,)) + bytes(t[n] for n in _zigzag()) for i, t in tables.items())
    segment = Segment(0xDB, 0, dqt)
    with pytest.raises(TableError, match=re.escape("not 0..n-1")):
        parse_quant_tables([segment])


def _zigzag() -> list[int]:
    from pipeline.jpeg_tables import ZIGZAG

    return list(ZIGZAG)


def test_real_samples_agree_with_reference(realworld: Path) -> None:
    """%Q from ImageMagick 6.9.11 for every readable file; exiftool's IJG digests for IJG files."""
    with (realworld / "reference.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    compared, mismatches, ijg_checked, ijg_mismatches = 0, [], 0, []
    for row in rows:
        if not row["im_quality"]:
            continue
        try:  # camid's own reader, as the header stage runs it
            data = (realworld / row["path"]).read_bytes()
            tables = parse_quant_tables(read_header(data).segments)
        except Exception:  # not a readable JPEG header: outside the requirement
            continue
        if not tables:
            continue
        estimate = estimate_quality(tables)
        compared += 1
        if estimate.imagemagick != int(row["im_quality"]):
            mismatches.append((row["path"], row["im_quality"], estimate))
        if match := IJG_DIGEST.search(row["exiftool_jpegdigest"]):
            ijg_checked += 1
            if not estimate.ijg_exact or estimate.ijg_quality != int(match.group(1)):
                ijg_mismatches.append((row["path"], match.group(1), estimate))
    assert compared > 0
    assert mismatches == []
    assert ijg_checked > 0
    assert ijg_mismatches == []
