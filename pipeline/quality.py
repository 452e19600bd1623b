"""JPEG quality estimated from the quantization tables alone, ImageMagick-compatible and corrected.

Why three answers:

* ``imagemagick`` reproduces what ImageMagick 6.9.11 prints for ``identify -format %Q``, quirks
  included, so camid's numbers can be checked against the reference data and against anyone else
  who quotes ImageMagick. It is not trustworthy on its own: ImageMagick adds *every* table into its
  sum, so a file with a third (duplicate chrominance) table comes out several points too low, and
  when its hash and sum disagree below quality 51 it gives up and ``%Q`` prints a fixed 92.
* ``corrected`` is the same heuristic without those two mistakes: only tables 0 and 1 count, and
  where ImageMagick gives up we return the IJG quality whose scaled standard tables are nearest to
  the actual ones (log-ratio distance, because quantizers scale multiplicatively). When the tables
  are exactly IJG tables it is that quality. **The curation filter uses ``corrected``**: a quality
  threshold must not reject a camera because its firmware writes a duplicate table, nor accept a
  heavily recompressed file because ImageMagick's "cannot decide" looks like 92.
* ``ijg_exact``/``ijg_quality`` say whether the tables are exactly libjpeg's standard tables scaled
  at some quality (``jpeg_quality_scaling`` plus the force_baseline clamp to 1..255). Such files
  were very likely written by libjpeg-based software, so the quality number is a setting, not a guess.

Table order: ``estimate_quality`` takes the tables ordered by table id, each 64 ints in NATURAL
(row-major) order, as libjpeg's ``quantval`` holds them: what ``pipeline.jpeg_tables`` returns
(it de-zigzags the DQT bytes; a test checks it against Pillow's own parser). Bytes read straight
from a DQT segment are in zigzag order and must be de-zigzagged first.

ImageMagick's reference arrays (coders/jpeg.c, ``JPEGSetImageQuality``) are the hash and sum of the
IJG tables at each quality; they are derived here from the standard tables rather than transcribed,
which was checked entry by entry against 6.9.11's arrays (the tests pin some of them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

# ITU-T T.81 Annex K.1 (libjpeg jcparam.c), natural order.
IJG_LUMINANCE: tuple[int, ...] = (
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
)  # fmt: skip
IJG_CHROMINANCE: tuple[int, ...] = (
    (17, 18, 24, 47) + (99,) * 4 + (18, 21, 26, 66) + (99,) * 4
    + (24, 26, 56) + (99,) * 5 + (47, 66) + (99,) * 6 + (99,) * 32
)

DCT_SIZE2 = 64
# %Q prints this when ImageMagick leaves image->quality at 0 (UndefinedCompressionQuality).
IMAGEMAGICK_UNDECIDED = 92
# From this index on ImageMagick accepts an "approximate" match instead of giving up.
_IM_APPROXIMATE_FROM = 50


@dataclass(frozen=True, slots=True)
class QualityEstimate:
    """Quality of one JPEG as ImageMagick reports it, as camid corrects it, and IJG exactness."""

    imagemagick: int | None  # what `identify -format %Q` prints for these tables (IM's quirks included)
    corrected: int | None  # camid's own best estimate; the curation filter uses this one
    ijg_exact: bool | None  # tables are exactly the IJG standard tables at some quality; None: no tables
    ijg_quality: int | None  # that quality when ijg_exact, else None


def scale_ijg_table(basic: Sequence[int], quality: int) -> tuple[int, ...]:
    """A standard table scaled like libjpeg's jpeg_set_quality with force_baseline=TRUE."""
    quality = min(max(quality, 1), 100)
    scale = 5000 // quality if quality < 50 else 200 - quality * 2
    return tuple(min(max((value * scale + 50) // 100, 1), 255) for value in basic)


@cache
def _ijg_pair(quality: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Luminance and chrominance tables libjpeg writes at ``quality`` (cached: used per file)."""
    return scale_ijg_table(IJG_LUMINANCE, quality), scale_ijg_table(IJG_CHROMINANCE, quality)


@cache
def imagemagick_reference(colour: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """ImageMagick's hash[] and sums[] for quality 1..100: hash and total of the IJG tables."""
    hashes, sums = [], []
    for quality in range(1, 101):
        lum, chroma = _ijg_pair(quality)
        hashes.append(lum[2] + lum[53] + (chroma[0] + chroma[63] if colour else 0))
        sums.append(sum(lum) + (sum(chroma) if colour else 0))
    return tuple(hashes), tuple(sums)


def imagemagick_search(tables: Sequence[Sequence[int]]) -> int | None:
    """ImageMagick 6.9.11's JPEGSetImageQuality; None where it leaves quality undefined (0).

    Colour references are used whenever tables 0 and 1 both exist, and the sum covers every table
    given (the third-table quirk). Scanning from quality 1, the first index where the file is not
    below the reference on both hash and sum decides: an exact match (<= on both), or any index
    from 50 on, sets quality index+1; a mixed result below that leaves quality undefined.
    """
    if not tables:
        return None
    colour = len(tables) >= 2
    hash_value = tables[0][2] + tables[0][53] + (tables[1][0] + tables[1][63] if colour else 0)
    total = sum(sum(table) for table in tables)
    ref_hashes, ref_sums = imagemagick_reference(colour)
    for index, (ref_hash, ref_sum) in enumerate(zip(ref_hashes, ref_sums, strict=True)):
        if hash_value < ref_hash and total < ref_sum:
            continue
        if (hash_value <= ref_hash and total <= ref_sum) or index >= _IM_APPROXIMATE_FROM:
            return index + 1
        return None
    return None  # only reachable with zero quantizers, which libjpeg would not produce


def ijg_match(tables: Sequence[Sequence[int]]) -> int | None:
    """The quality whose IJG tables these are exactly, else None.

    Table 0 must be the scaled luminance table, table 1 (if any) the scaled chrominance table, and
    any further table a duplicate of that chrominance table (as some cameras write). No two
    qualities give the same tables, so the answer is unique.
    """
    if not tables:
        return None
    actual = [tuple(table) for table in tables]
    quality = _ijg_by_luminance().get(actual[0])
    if quality is None:
        return None
    chroma = _ijg_pair(quality)[1]
    return quality if all(table == chroma for table in actual[1:]) else None


@cache
def _ijg_by_luminance() -> dict[tuple[int, ...], int]:
    """Quality by IJG luminance table (distinct for every quality), so a match is one lookup."""
    return {_ijg_pair(quality)[0]: quality for quality in range(100, 0, -1)}  # the lowest wins


def nearest_ijg_quality(tables: Sequence[Sequence[int]]) -> int:
    """The IJG quality whose scaled standard tables are closest to tables 0 and 1 (ties: lower q).

    Distance is the summed absolute log ratio, so a quantizer twice too coarse counts the same at
    every quality; zero entries (invalid, but seen in broken files) count as 1.
    """
    used = tables[:2]
    best_quality, best_distance = 1, math.inf
    for quality in range(1, 101):
        references = _ijg_pair(quality)
        distance = sum(
            abs(math.log(max(value, 1) / reference))
            for table, standard in zip(used, references, strict=False)
            for value, reference in zip(table, standard, strict=True)
        )
        if distance < best_distance:
            best_quality, best_distance = quality, distance
    return best_quality


def _validated(tables: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """Tables as tuples of ints; a wrong length means the caller passed something other than DQTs."""
    result = tuple(tuple(map(int, table)) for table in tables)
    for table_id, table in enumerate(result):
        if len(table) != DCT_SIZE2:
            raise ValueError(f"quantization table {table_id} has {len(table)} entries, expected 64")
    return result


def estimate_quality(tables: Sequence[Sequence[int]]) -> QualityEstimate:
    """ImageMagick's, camid's and the IJG reading of the quantization tables (see module docstring).

    ``tables``: ordered by table id 0, 1, ..., 64 ints each in natural (row-major) order.
    """
    checked = _validated(tables)
    if not checked:
        return QualityEstimate(imagemagick=None, corrected=None, ijg_exact=None, ijg_quality=None)
    found = imagemagick_search(checked)
    ijg_quality = ijg_match(checked)
    if ijg_quality is not None:
        corrected = ijg_quality
    else:
        corrected = imagemagick_search(checked[:2]) or nearest_ijg_quality(checked)
    return QualityEstimate(
        imagemagick=IMAGEMAGICK_UNDECIDED if found is None else found,
        corrected=corrected,
        ijg_exact=ijg_quality is not None,
        ijg_quality=ijg_quality,
    )
