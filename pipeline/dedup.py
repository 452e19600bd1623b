"""Near-duplicate clusters by perceptual hash: the same photo re-uploaded, resized or re-encoded.

Exact duplicates need nothing here: storage is content-addressed, so one content is one image.
Near duplicates are grouped, not dropped: the split keeps a cluster on one side, so a resized
copy on one site can never leak a validation photo into training. The pHash is computed on a
1/8-scale JPEG decode (Pillow's ``draft``), which is fast and bounded in memory even for 100+ MP
files; a decompression-bomb guard refuses absurd declared sizes.
"""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from collections.abc import Sequence

import imagehash
from PIL import Image

from pipeline.unionfind import UnionFind

MAX_DECODE_PIXELS = 400_000_000  # declared size above which no decode is attempted
HASH_BITS = 64
DEFAULT_DISTANCE = 6  # Hamming distance (of 64 bits) up to which two photos are the same shot


def perceptual_hash(path: str | os.PathLike[str]) -> str | None:
    """16 hex digits of pHash, or None when the file cannot or must not be decoded."""
    try:
        with Image.open(path) as im:
            width, height = im.size
            if width * height > MAX_DECODE_PIXELS:
                return None
            im.draft("L", (max(1, width // 8), max(1, height // 8)))
            return str(imagehash.phash(im.convert("L")))
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None


def cluster_near_duplicates(hashes: Sequence[str | None], max_distance: int = DEFAULT_DISTANCE) -> list[int]:
    """Cluster id per input (the smallest member index), linking pairs within ``max_distance``.

    Multi-index hashing: split the 64 bits into ``max_distance + 1`` bands; two hashes within the
    distance agree exactly on at least one band (pigeonhole), so only hashes sharing a band value
    are compared, instead of all pairs.
    """
    sets = UnionFind(len(hashes))
    values = [int(h, 16) if h else None for h in hashes]
    bands = _bands(max_distance + 1)
    for shift, mask in bands:
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, v in enumerate(values):
            if v is not None:
                buckets[(v >> shift) & mask].append(i)
        for members in buckets.values():
            for a_pos, a in enumerate(members):
                for b in members[a_pos + 1:]:
                    va, vb = values[a], values[b]  # both bucketed, so neither is None
                    if va is not None and vb is not None and (va ^ vb).bit_count() <= max_distance:
                        sets.union(a, b)
    return sets.roots()


def _bands(count: int) -> list[tuple[int, int]]:
    """(shift, mask) of ``count`` contiguous bit bands covering all 64 bits."""
    edges = [round(i * HASH_BITS / count) for i in range(count + 1)]
    return [(lo, (1 << (hi - lo)) - 1) for lo, hi in itertools.pairwise(edges) if hi > lo]
