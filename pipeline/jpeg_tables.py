"""The coding parameters in a JPEG header: frame (SOF), quantization (DQT), Huffman (DHT), DRI.

Parsed from the walked segments by hand (ITU-T T.81 B.2.2-B.2.4): each is a few fixed-layout
fields, the header stage runs a thousand times a second, and the encoder signature needs what a
general decoder does not keep (how tables are split over segments, the raw Huffman tables).
Quantization tables are returned in natural (row-major) order, de-zigzagged, ordered by id, as
``pipeline.quality`` expects.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pipeline.jpeg_segments import Segment

DQT, DHT, DRI = 0xDB, 0xC4, 0xDD
CODING = {0xC0: "baseline", 0xC1: "extended", 0xC2: "progressive", 0xC3: "lossless",
          0xC5: "differential", 0xC6: "differential-progressive", 0xC7: "differential-lossless",
          0xC9: "extended-arithmetic", 0xCA: "progressive-arithmetic", 0xCB: "lossless-arithmetic",
          0xCD: "differential-arithmetic", 0xCE: "differential-progressive-arithmetic",
          0xCF: "differential-lossless-arithmetic"}
SOF_MARKERS = frozenset(CODING)

# T.81 Figure A.6: ZIGZAG[k] is the natural (row-major) index of the k-th coefficient in zigzag order
ZIGZAG = (
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5,
    12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
    35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51,
    58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
)  # fmt: skip


# item k of _NATURAL(zigzag values) is the coefficient at natural index k (one C-level call)
_NATURAL = operator.itemgetter(*(ZIGZAG.index(n) for n in range(64)))


class TableError(ValueError):
    """A coding segment is malformed; the message says which and how."""


@dataclass(frozen=True, slots=True)
class Component:
    id: int
    h: int  # horizontal sampling factor
    v: int  # vertical sampling factor
    table: int  # quantization table id


@dataclass(frozen=True, slots=True)
class Frame:
    """The SOF segment: size, precision, coding process and the components' sampling."""

    marker: int
    precision: int
    width: int
    height: int
    components: tuple[Component, ...]

    @property
    def coding(self) -> str:
        return CODING[self.marker]

    @property
    def subsampling(self) -> str:
        """``4:2:0``-style name of the chroma subsampling (or the raw factors when unusual)."""
        comps = self.components
        if len(comps) == 1:
            return "gray"
        factors = tuple((c.h, c.v) for c in comps)
        if len(comps) == 3 and factors[1] == factors[2] == (1, 1):
            name = {(1, 1): "4:4:4", (2, 1): "4:2:2", (2, 2): "4:2:0", (1, 2): "4:4:0",
                    (4, 1): "4:1:1"}.get(factors[0])
            if name:
                return name
        return ",".join(f"{h}x{v}" for h, v in factors)

    def mcus(self) -> int:
        """Minimum coded units of an interleaved scan (one block each for a grey image)."""
        if len(self.components) == 1:
            return -(-self.width // 8) * -(-self.height // 8)
        hmax = max(c.h for c in self.components)
        vmax = max(c.v for c in self.components)
        return -(-self.width // (8 * hmax)) * -(-self.height // (8 * vmax))

    def blocks(self) -> int:
        """8x8 blocks the image holds, over all components (what the scan must code)."""
        if len(self.components) == 1:
            return self.mcus()
        return self.mcus() * sum(c.h * c.v for c in self.components)


def parse_frame(segments: Sequence[Segment]) -> Frame:
    """The first SOF segment; ``TableError`` when there is none or it is malformed."""
    sof = next((s for s in segments if s.marker in SOF_MARKERS), None)
    if sof is None:
        raise TableError("no frame header (SOF) before the scan")
    body = sof.payload
    if len(body) < 6 or len(body) < 6 + 3 * body[5] or body[5] == 0:
        raise TableError(f"frame header 0xFF{sof.marker:02X} is {len(body)} bytes, too short")
    count = body[5]
    comps = tuple(Component(body[6 + 3 * i], body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15, body[8 + 3 * i])
                  for i in range(count))
    if any(not (1 <= c.h <= 4 and 1 <= c.v <= 4) for c in comps):
        raise TableError("frame header has a sampling factor outside 1..4")
    return Frame(sof.marker, body[0], int.from_bytes(body[3:5], "big"), int.from_bytes(body[1:3], "big"),
                 comps)


def parse_quant_tables(segments: Sequence[Segment]) -> tuple[tuple[int, ...], ...]:
    """Every DQT table, natural order, by id (a later table with the same id replaces it)."""
    tables: dict[int, tuple[int, ...]] = {}
    for seg in segments:
        if seg.marker != DQT:
            continue
        body = seg.payload
        for pos, precision, table_id, size in _dqt_entries(body):
            raw = body[pos + 1:pos + 1 + size]
            if len(raw) != size or precision > 1:
                raise TableError(f"quantization table {table_id} is malformed")
            values = raw if not precision else [int.from_bytes(raw[i:i + 2], "big") for i in range(0, 128, 2)]
            tables[table_id] = _NATURAL(values)
    ids = sorted(tables)
    if ids != list(range(len(ids))):
        raise TableError(f"quantization table ids {ids} are not 0..n-1")
    return tuple(tables[i] for i in ids)


def dqt_layout(segments: Sequence[Segment]) -> tuple[tuple[int, ...], ...]:
    """Table ids per DQT segment: ``((0, 1),)`` for one segment, ``((0,), (1,))`` for two."""
    return tuple(tuple(table_id for _, _, table_id, _ in _dqt_entries(seg.payload))
                 for seg in segments if seg.marker == DQT)


def _dqt_entries(body: bytes) -> Iterator[tuple[int, int, int, int]]:
    """(position, precision, table id, value bytes) of each table a DQT payload declares."""
    pos = 0
    while pos < len(body):
        precision, table_id = body[pos] >> 4, body[pos] & 15
        size = 128 if precision else 64
        yield pos, precision, table_id, size
        pos += 1 + size


@dataclass(frozen=True, slots=True)
class HuffmanTable:
    """One DHT table: class (0 DC, 1 AC), id, code counts per length (16) and symbols."""

    cls: int
    id: int
    counts: bytes
    symbols: bytes


def parse_huffman_tables(segments: Sequence[Segment]) -> tuple[tuple[HuffmanTable, ...], ...]:
    """The Huffman tables of each DHT segment, in file order."""
    out = []
    for seg in segments:
        if seg.marker != DHT:
            continue
        body, tables = seg.payload, []
        for pos, counts in _dht_entries(body):
            total = sum(counts)
            symbols = body[pos + 17:pos + 17 + total]
            if len(counts) != 16 or len(symbols) != total:
                raise TableError("Huffman table is malformed")
            tables.append(HuffmanTable(body[pos] >> 4, body[pos] & 15, counts, symbols))
        out.append(tuple(tables))
    return tuple(out)


def dht_ids(payload: bytes) -> tuple[int, ...]:
    """The class/id bytes (``0x10`` for AC table 0) of the tables one DHT payload declares, read
    without validating the tables (what the encoder signature's marker sequence records)."""
    return tuple(payload[pos] for pos, counts in _dht_entries(payload) if len(counts) == 16)


def _dht_entries(body: bytes) -> Iterator[tuple[int, bytes]]:
    """(position, the 16 code-length counts) of each table a DHT payload declares."""
    pos = 0
    while pos < len(body):
        counts = body[pos + 1:pos + 17]
        yield pos, counts
        pos += 17 + sum(counts)


def restart_interval(segments: Sequence[Segment]) -> int:
    """MCUs between restart markers (DRI; 0 when there is none)."""
    dri = next((s for s in segments if s.marker == DRI), None)
    return int.from_bytes(dri.payload[:2], "big") if dri is not None and len(dri.payload) >= 2 else 0
