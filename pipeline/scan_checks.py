"""Can the scan hold the image? The header-stage checks on the entropy-coded data, with their values.

The bit budget comes from the file's own luminance table: camera originals carry sensor noise,
and noise of ``sigma`` grey levels, quantized by a table entry ``q``, costs the entropy of a
Gaussian discretised in steps of ``q / sigma`` per coefficient (the JPEG DCT is orthonormal, so
white noise has the same sigma in every coefficient). Summed over the 63 AC entries and divided by
the block's 64 pixels, that is the least a camera file at this quality can carry; chroma only adds
to it. A quality-95 table needs about half a bit per pixel for sigma 1 (real originals: 2-4), so
a scan cut to a tenth, zeroed, or holding a flat frame falls below, while any honest file clears
it several times over. Entropy-coded data also looks random byte by byte; zeroed or constant data
does not.
"""

from __future__ import annotations

import math
from functools import cache

from pipeline.records import ImageFacts, Reason

Finding = tuple[Reason, str]


@cache
def coefficient_bits(step: float) -> float:
    """Entropy in bits of N(0, 1) rounded to multiples of ``step`` (the quantizer / sigma)."""
    if step <= 0:
        return 0.0
    total, k = 0.0, 0
    while True:
        low, high = (k - 0.5) * step, (k + 0.5) * step
        p = 0.5 * (math.erf(high / math.sqrt(2)) - math.erf(low / math.sqrt(2)))
        if p > 1e-15:
            total -= (p if k == 0 else 2 * p) * math.log2(p)
        if low > 8.0:
            return total
        k += 1


@cache
def noise_floor_bpp(luma_table: tuple[int, ...], sigma: float) -> float:
    """Bits per pixel the luminance table needs to code noise of ``sigma`` grey levels (cached:
    a camera writes the same few tables over and over)."""
    if sigma <= 0:
        return 0.0
    return sum(coefficient_bits(round(q / sigma, 3)) for q in luma_table[1:]) / 64


def scan_findings(facts: ImageFacts, sigma: float, min_variety: float) -> list[Finding]:
    """empty_scan and corrupt findings of a file whose scan ends with EOI (else: truncated)."""
    if not facts.has_eoi or facts.scan_bytes is None:
        return []
    found: list[Finding] = []
    if facts.quant_tables and facts.scan_bpp is not None:
        floor = noise_floor_bpp(facts.quant_tables[0], sigma)
        if facts.scan_bpp < floor:
            found.append((Reason.EMPTY_SCAN, f"scan {facts.scan_bpp:.3f} bits/pixel < {floor:.3f} that "
                          f"quality-{facts.quality} tables need for camera noise of sigma {sigma:g}"))
    variety = facts.scan_byte_variety
    if variety is not None and variety < min_variety:
        found.append((Reason.EMPTY_SCAN, f"the scan's samples hold at most {variety:.0%} of the 256 byte "
                      f"values (< {min_variety:.0%}): zeroed or constant, not entropy-coded"))
    if facts.scan_bad_markers:
        found.append((Reason.CORRUPT, f"{facts.scan_bad_markers} marker(s) that cannot occur inside a scan"))
    if facts.restart_expected is not None:
        found += _restart_findings(facts)
    return found


def _restart_findings(facts: ImageFacts) -> list[Finding]:
    """Restart markers against what the DRI interval means for this frame."""
    interval, expected = facts.restart_interval, facts.restart_expected
    if facts.restart_markers is not None and facts.restart_markers != expected:
        return [(Reason.CORRUPT, f"{facts.restart_markers} restart markers where the DRI interval of "
                 f"{interval} MCUs means {expected}")]
    if facts.restart_out_of_order:
        return [(Reason.CORRUPT, f"{facts.restart_out_of_order} of {facts.restart_checked} restart markers "
                 f"checked break the RST0..RST7 cycle the DRI interval of {interval} MCUs means")]
    return []

