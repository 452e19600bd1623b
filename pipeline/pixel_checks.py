"""The pixel stage's findings: measured values against the policy's thresholds (no decoding here).

Kept apart from the measuring (``pipeline.pixels``) so a re-tuned policy re-judges stored
values in microseconds instead of decoding every file again.
"""

from __future__ import annotations

from pipeline.evidence import PixelFacts
from pipeline.policy import Policy
from pipeline.records import Reason
from pipeline.scan_checks import Finding
from pipeline.thumbnail_book import LearnedThumbnail


def pixel_findings(pixels: PixelFacts, policy: Policy,
                   thumbnail: LearnedThumbnail | None = None) -> list[Finding]:
    """Every pixel check that fails, with its measured value and threshold.

    ``thumbnail``: the file's camera's learned thumbnail agreement, which tightens the policy's
    regional threshold for that camera (``pipeline.thumbnail_book``).
    """
    found: list[Finding] = []
    limit = policy.threshold
    if policy.applies("pixel_decode"):
        if pixels.decode_warning:
            reason = Reason.EMPTY_SCAN if "premature end" in pixels.decode_warning else Reason.CORRUPT
            found.append((reason, f"libjpeg: {pixels.decode_warning}"))
        if pixels.flat_fraction is not None and pixels.flat_fraction > limit("pixels.max_flat"):
            found.append((Reason.EMPTY_SCAN, f"{pixels.flat_fraction:.0%} of the 8x8 blocks are flat "
                          f"(> {limit('pixels.max_flat'):.0%}): no sensor noise"))
    if policy.applies("thumbnail"):
        found += _over(pixels.thumbnail_error, limit("pixels.max_thumbnail_error"), Reason.THUMBNAIL_MISMATCH,
                       "the EXIF thumbnail differs from the image by {v:.1f} grey levels (> {t:g})")
        found += _thumbnail_local(pixels, limit("pixels.max_thumbnail_local"), thumbnail)
    if policy.applies("recompressed"):
        found += _over(pixels.recompression, limit("pixels.max_recompression"), Reason.RECOMPRESSED,
                       "the low-frequency DCT histograms fall {v:.0%} short of smooth, the mark of an "
                       "earlier quantization with other tables (> {t:.0%})")
    if policy.applies("resampled"):
        found += _over(pixels.resampling, limit("pixels.max_resampling"), Reason.RESAMPLED,
                       "neighbouring pixels correlate as after interpolation: {v:.3f} at half the "
                       "sampling rate (> {t:g})")
    if policy.applies("local_edit"):
        found += _over(pixels.smoothing, limit("pixels.max_smoothing"), Reason.LOCAL_EDIT,
                       "a region's share of blocks stripped of fine detail is {v:.0%} above the rest's "
                       "(> {t:.0%})")
        found += _over(pixels.edge_blur, limit("pixels.max_edge_blur"), Reason.LOCAL_EDIT,
                       "a region's edges are {v:.2f} px (Gaussian sigma) wider than the image's typical "
                       "edge: blurred after capture (> {t:g} px)")
        found += _over(pixels.noise_excess, limit("pixels.max_noise_excess"), Reason.LOCAL_EDIT,
                       "a region's noise is 2^{v:.2f} times the image's typical noise, as a patch from a "
                       "noisier source's is (> 2^{t:g})")
        found += _over(pixels.noise_deficit, limit("pixels.max_noise_deficit"), Reason.LOCAL_EDIT,
                       "a region's noise falls 2^{v:.2f} times below the rest of the image's noise floor "
                       "at the same brightness, as a patch from a cleaner source's does (> 2^{t:g})")
        found += _over(pixels.stability, limit("pixels.max_stability"), Reason.LOCAL_EDIT,
                       "a region's blocks change on one more JPEG round trip 2^{v:.2f} times as often as "
                       "the rest's, relative to a fresh quantization: that region was compressed once "
                       "less, as an edit saved over a camera JPEG is (> 2^{t:g})")
        found += _over(pixels.copy_move, limit("pixels.max_copy_move"), Reason.LOCAL_EDIT,
                       "{v:.1%} of the image is copied from elsewhere in it (> {t:.1%})")
    return found


def _over(value: float | None, threshold: float, reason: Reason, text: str) -> list[Finding]:
    if value is None or value <= threshold:
        return []
    return [(reason, text.format(v=value, t=threshold))]


def _thumbnail_local(pixels: PixelFacts, threshold: float, learned: LearnedThumbnail | None) -> list[Finding]:
    text = "one region of the EXIF thumbnail differs by {v:.1f} grey levels more than the rest (> {t:g}"
    if learned is not None and learned.limit < threshold:
        threshold = learned.limit
        text += (f": the limit learned for this camera, whose thumbnails differ by a median "
                 f"{learned.median:g} over {learned.files} files from {learned.uploaders} uploaders)")
    else:
        text += ")"
    return _over(pixels.thumbnail_local, threshold, Reason.THUMBNAIL_MISMATCH, text)
