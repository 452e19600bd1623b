"""Typed records passed between camid's stages.

Every stage hands the next one of these frozen dataclasses instead of a dict or tuple, so a
field renamed in one place fails loudly everywhere (ruff, tests) rather than silently carrying
``None``. The catalog (``db/``) converts its ORM rows into these at its boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pipeline.evidence import EncoderSignature, PixelFacts

# progress callback every long stage takes: (stage name, items done, items in all)
Tick = Callable[[str, int, int], None]


class Reason(StrEnum):
    """Why a file is not accepted into a dataset, or a candidate skipped before download.

    One vocabulary for both: a source's pre-filter rules a file out under the code curation would
    reject it with (``pipeline.prefilter``). The string values are stable codes.

    They are written to the catalog, to ``camid inspect --json`` and to manifests, so a code is
    never renamed once released; new reasons are added at the end.
    """

    NOT_JPEG = "not_jpeg"
    TRUNCATED = "truncated"
    CORRUPT = "corrupt"
    NO_EXIF = "no_exif"
    UNKNOWN_CAMERA = "unknown_camera"
    EXCLUDED_MODEL = "excluded_model"
    EDITED_SOFTWARE = "edited_software"
    EDITED_CREATOR_TOOL = "edited_creator_tool"
    XMP_EDIT_HISTORY = "xmp_edit_history"
    CAMERA_RAW_SETTINGS = "camera_raw_settings"
    PHOTOSHOP_RESOURCES = "photoshop_resources"
    ADOBE_APP14 = "adobe_app14"
    EXIF_SIZE_MISMATCH = "exif_size_mismatch"
    LOW_QUALITY = "low_quality"
    QUALITY_UNKNOWN = "quality_unknown"
    NON_NATIVE_SIZE = "non_native_size"
    UNREADABLE = "unreadable"
    EMPTY_SCAN = "empty_scan"
    FOREIGN_ENCODER = "foreign_encoder"
    RESAVED = "resaved"  # only when the policy rejects re-saves (by default it is a flag)
    PIXELS_UNCHECKED = "pixels_unchecked"  # header checks passed, the pixel stage has not run yet
    THUMBNAIL_MISMATCH = "thumbnail_mismatch"
    RECOMPRESSED = "recompressed"
    RESAMPLED = "resampled"
    LOCAL_EDIT = "local_edit"
    OPT_OUT = "opt_out"  # ruled out before download: the host's X-Robots-Tag opts out of AI use
    OFF_SOURCE_HOST = "off_source_host"  # a source's answer named a file on a host it does not serve


class FailureReason(StrEnum):
    """Why a download failed, as a stable code (``candidates.error_code``; ``camid stats`` counts
    them, ``camid download --retry-failed --reason CODE`` re-queues by them).

    ``last_error`` says the same in words, with the measured detail. Codes are never renamed once
    released; new ones are added at the end.
    """

    HTTP_ERROR = "http_error"  # a status that is neither a success nor a refusal (404, 500...)
    REFUSED = "refused"  # 429 or 503: the host asked to wait
    CUT_SHORT = "cut_short"  # the body ended before its declared length
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    SHA1_MISMATCH = "sha1_mismatch"
    SIZE_MISMATCH = "size_mismatch"
    NO_EOI = "no_eoi"  # the whole body came, but no JPEG end-of-image marker
    NOT_JPEG = "not_jpeg"
    WRONG_TYPE = "wrong_type"  # a Content-Type that is not an image
    TOO_BIG = "too_big"
    REDIRECT = "redirect"
    BAD_URL = "bad_url"
    UNREADABLE = "unreadable"  # a local file that cannot be read
    DISK_FULL = "disk_full"  # our storage, not the URL: never permanent
    STORAGE = "storage"  # any other error writing our storage
    OTHER = "other"


class CandidateStatus(StrEnum):
    """Life of one candidate URL in the catalog.

    ``pending`` and ``failed`` (with a next attempt time) are waiting for the downloader;
    ``skipped`` was ruled out before download (wrong size, opt-out header...); ``downloaded``
    waits for curation, which moves it to ``accepted`` or ``rejected``.
    """

    PENDING = "pending"
    FAILED = "failed"
    SKIPPED = "skipped"
    DOWNLOADED = "downloaded"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class Candidate:
    """A URL that a scraper believes points to an original camera JPEG.

    ``camera`` is the camera the *query* was about; it is kept for statistics only and never
    labels the file (search results lie: the label comes from the file's own EXIF).
    """

    source: str
    source_id: str
    url: str
    camera: str | None = None
    page_url: str | None = None
    licence: str | None = None
    author: str | None = None
    expected_sha1: str | None = None
    expected_bytes: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class CandidateKey:
    """Identifies a candidate across processes: unique per source."""

    source: str
    source_id: str


@dataclass(frozen=True, slots=True)
class Download:
    """A verified file in content-addressed storage, fetched for one candidate."""

    key: CandidateKey
    sha256: str
    path: str
    bytes: int
    content_type: str | None = None


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What one pass over a file's headers says about it (no pixel decode).

    ``format`` is the real format from the magic bytes ("jpeg", "png", ..., "empty" for a
    zero-byte file, "unknown"), or None when the file could not be read at all.

    Unknown values are ``None``; ``error`` holds a one-line message when the file could not be
    read at all, ``corrupt`` one for damage that still let the header be read. ``quality`` is
    the estimate the filters use, ``quality_imagemagick`` the one compatible with
    ``identify -format %Q``.
    """

    format: str | None
    width: int | None = None
    height: int | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    datetime_original: str | None = None
    orientation: int | None = None
    exif_width: int | None = None
    exif_height: int | None = None
    has_exif: bool = False
    has_makernote: bool = False
    serial: str | None = None  # the EXIF body serial number, raw: never written to a manifest
    xmp_creator_tool: str | None = None
    xmp_history_agents: tuple[str, ...] = ()
    has_camera_raw: bool = False
    has_photoshop_irb: bool = False
    photoshop_iptc_only: bool = False
    has_adobe_app14: bool = False
    has_eoi: bool = False
    truncated: bool = False
    corrupt: str | None = None
    quant_tables: tuple[tuple[int, ...], ...] = ()
    quality_imagemagick: int | None = None
    quality: int | None = None
    ijg_exact: bool | None = None
    error: str | None = None
    # the scan, measured without decoding (pipeline.scan)
    coding: str | None = None
    subsampling: str | None = None
    scan_bytes: int | None = None
    scan_bpp: float | None = None
    scan_byte_variety: float | None = None
    scan_bad_markers: int = 0
    scans: int | None = None
    restart_interval: int | None = None
    restart_markers: int | None = None
    restart_checked: int | None = None
    restart_expected: int | None = None
    restart_out_of_order: int = 0
    trailer_bytes: int | None = None
    # where the EXIF thumbnail lies in the file, for the pixel stage
    thumbnail_offset: int | None = None
    thumbnail_length: int | None = None
    signature: EncoderSignature | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a file belongs in the dataset, with *every* failing reason, not the first.

    ``details`` has one entry per reason: the measured value that failed, in words ("quality 91 <
    95"). ``flags`` are observations that reject nothing under the policy (``resaved``).
    """

    accepted: bool
    label: str | None
    reasons: tuple[Reason, ...]
    policy_hash: str
    registry_hash: str
    details: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.accepted == bool(self.reasons):
            raise ValueError("a verdict is accepted exactly when it has no reasons")
        if self.details and len(self.details) != len(self.reasons):
            raise ValueError("a verdict has one detail per reason")

    def detail(self, reason: Reason) -> str | None:
        return self.details[self.reasons.index(reason)] if reason in self.reasons and self.details else None


@dataclass(frozen=True, slots=True)
class ManifestRow:
    """One image of an exported dataset, as written to the train/val CSVs.

    Besides the label and attribution it carries what the catalog knows of the file that
    training needs, so training never opens a file for its headers: the EXIF camera (``make``,
    ``model``, which ``camid predict`` checks a query image against), the stored pixel size and
    the chroma subsampling ("4:2:0"; the file's own 8/16-pixel block grid). These came with
    manifest format 2: rows of an older manifest have them None. ``device`` (format 3) is the
    item's device key (``pipeline.export_rows.device_key``): a hash of the serial number, never
    the serial itself, or the uploader standing in for the device; None when neither is known.
    """

    path: str
    sha256: str
    label: str
    source: str
    uploader: str | None
    licence: str | None
    attribution_url: str | None
    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    subsampling: str | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A file in content-addressed storage, as the catalog knows it."""

    sha256: str
    path: str
    facts_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FactsUpdate:
    """Facts read from a stored file, to be saved in the catalog."""

    sha256: str
    facts: ImageFacts
    facts_hash: str
    reader_version: int
    phash: str | None = None


@dataclass(frozen=True, slots=True)
class StoredFacts:
    """Facts of a stored image as the catalog holds them, with their hashes.

    ``pixels`` are the pixel stage's latest measurements (None: not measured yet). Measurements
    by an older version of the detectors stay until ``measure_pixels`` replaces them.
    """

    sha256: str
    facts: ImageFacts
    facts_hash: str | None
    pixels: PixelFacts | None = None
    pixel_hash: str | None = None


@dataclass(frozen=True, slots=True)
class PixelTask:
    """A stored file the pixel stage must measure, with the header facts it needs."""

    sha256: str
    path: str
    facts: ImageFacts


@dataclass(frozen=True, slots=True)
class PixelUpdate:
    """Pixel measurements of a stored file, to be saved in the catalog."""

    sha256: str
    pixels: PixelFacts
    pixel_hash: str
    version: int


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    """A stored image's perceptual hash (None: the file could not be decoded for hashing)."""

    sha256: str
    phash: str | None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A verdict for a stored image, with the hashes of what it was computed from."""

    sha256: str
    verdict: Verdict
    facts_hash: str | None
    signatures_hash: str | None = None
    pixel_hash: str | None = None


@dataclass(frozen=True, slots=True)
class AcceptedImage:
    """An accepted image as the catalog stores it, with the first candidate that found it.

    The stored values as they are (``author``, ``page_url``, ``url``): what they mean in a
    dataset (uploader, attribution URL) is decided by ``pipeline.export_rows``, not by a query.
    ``subsampling`` and ``serial`` (the raw EXIF body serial number) come from the stored facts.
    """

    sha256: str
    path: str
    label: str
    source: str
    author: str | None
    licence: str | None
    page_url: str | None
    url: str
    phash: str | None
    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    subsampling: str | None = None
    serial: str | None = None


@dataclass(frozen=True, slots=True)
class ExportItem:
    """An accepted image with what a dataset row and the split grouping need.

    ``device`` is its device key (``pipeline.export_rows.device_key``): the split keeps each
    device on one side, so a test split can hold only devices training never saw.
    """

    sha256: str
    path: str
    label: str
    source: str
    uploader: str | None
    licence: str | None
    attribution_url: str | None
    phash: str | None
    make: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    subsampling: str | None = None
    device: str | None = None


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What the catalog remembers of an export."""

    rows_sha256: str
    registry_hash: str
    policy_hash: str
    seed: int
    counts_json: str


@dataclass(frozen=True, slots=True)
class CandidateOutcome:
    """Where one candidate ended: its status and the reason codes recorded for it."""

    source: str
    source_id: str
    url: str
    status: CandidateStatus
    reasons: tuple[str, ...]
    last_error: str | None = None


# ---- acquisition: scrapers, the downloader and the catalog's download queue -----------------


@dataclass(frozen=True, slots=True)
class CandidateSkip:
    """A candidate ruled out before (or instead of) download: a reason code and a one-line detail.

    The codes are the verdict's (``Reason``), so a file the source's metadata already rules out is
    counted under the same code as one curation rejects.
    """

    key: CandidateKey
    reason: Reason
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class DownloadTask:
    """A candidate claimed for download: where to fetch it and what the source says it is."""

    key: CandidateKey
    url: str
    expected_sha1: str | None = None
    expected_bytes: int | None = None
    attempts: int = 0
    # the code of the last failure and how many attempts in a row ended with it (caps per reason)
    last_code: str | None = None
    streak: int = 0


@dataclass(frozen=True, slots=True)
class DownloadFailure:
    """A download that did not produce a verified file.

    ``retry_at`` is when to try again; a permanent failure has none and is not retried.
    ``counted`` is False for a failure that was not the URL's doing (a full disk): it uses up
    none of the URL's attempts.
    """

    key: CandidateKey
    error: str
    retry_at: datetime | None
    code: FailureReason = FailureReason.OTHER
    counted: bool = True

    @property
    def permanent(self) -> bool:
        return self.retry_at is None


@dataclass(frozen=True, slots=True)
class DownloadDeferral:
    """A download not attempted because its host asked everyone to wait: no attempt is counted."""

    key: CandidateKey
    reason: str
    retry_at: datetime


@dataclass(frozen=True, slots=True)
class HostPause:
    """A host asked every client to wait until ``until`` (a 429/503 with Retry-After); kept in the
    catalog so a restarted downloader, or another one, leaves the host alone too."""

    host: str
    port: int | None
    until: datetime


@dataclass(frozen=True, slots=True)
class ScrapeTally:
    """What one scrape run has done so far (saved as it goes, so a crash loses little)."""

    api_calls: int = 0
    found: int = 0
    added: int = 0
    skipped: int = 0
    error: str | None = None
