"""The verdict: a pure function of (facts, registry, policy, signatures, pixel facts).

Every failing reason is reported, not the first, each with the measured value that failed, so
the catalog can say how much each check costs a source ("half of Flickr's iPhone 6 files are
resized") and a policy change can be reasoned about. The label comes only from the file's own
EXIF Make and Model through the registry.

Two stages feed it. The header stage (``pipeline.facts``) is always there; the pixel stage
(``pipeline.pixels``) runs later, on files the header stage accepted: until it has, such a file is
``pixels_unchecked``, never accepted, so nothing half-checked reaches a dataset.
"""

from __future__ import annotations

from pipeline.evidence import PixelFacts
from pipeline.pixel_checks import pixel_findings
from pipeline.policy import Policy
from pipeline.records import ImageFacts, Reason, Verdict
from pipeline.registry import Camera, LabelMatch, Registry
from pipeline.scan_checks import Finding, scan_findings
from pipeline.signature_book import EMPTY_BOOK, SignatureBook, check_encoder

DEFAULT_MIN_QUALITY = 95


def judge(facts: ImageFacts, registry: Registry, policy: Policy, book: SignatureBook = EMPTY_BOOK,
          pixels: PixelFacts | None = None) -> Verdict:
    """Accept or reject one file; ``reasons`` holds every failing check, in a stable order."""
    if facts.format is None:
        return _verdict(None, [(Reason.UNREADABLE, facts.error or "unreadable")], [], registry, policy)
    wrong_format = format_findings(facts.format)
    if wrong_format:
        return _verdict(None, wrong_format, [], registry, policy)
    if facts.error is not None:
        reason = Reason.TRUNCATED if facts.truncated else Reason.CORRUPT
        return _verdict(None, [(reason, facts.error)], [], registry, policy)
    found = structure_findings(facts, policy)
    match = registry.match(facts.make, facts.model)
    found += label_findings(match, facts.make, facts.model)
    camera = registry.get(match.label) if match.label else None
    flags: list[str] = []
    found += camera_findings(facts, camera, policy)
    if camera is not None:
        found += encoder_findings(facts, camera, policy, book, flags)
    if pixels is not None:
        found += pixel_findings(pixels, policy, book.thumbnails.get(camera.id) if camera else None)
    elif policy.pixel_checks and not found:
        found.append((Reason.PIXELS_UNCHECKED, "the pixel stage has not run on this file yet"))
    return _verdict(match.label, found, flags, registry, policy)


def structure_findings(facts: ImageFacts, policy: Policy) -> list[Finding]:
    """Checks that need no camera: the end marker, corruption, the scan, EXIF presence."""
    found: list[Finding] = []
    if policy.applies("require_eoi") and facts.truncated:
        found.append((Reason.TRUNCATED, "no end-of-image marker after the scan"))
    if policy.applies("reject_corrupt") and facts.corrupt:
        found.append((Reason.CORRUPT, facts.corrupt))
    if policy.applies("scan"):
        found += [f for f in scan_findings(facts, policy.threshold("scan.noise_floor"),
                                           policy.threshold("scan.min_byte_variety"))
                  if f[0] != Reason.CORRUPT or policy.applies("reject_corrupt")]
    if policy.applies("require_exif") and not facts.has_exif:
        found.append((Reason.NO_EXIF, "no readable EXIF APP1 segment"))
    return found


def camera_findings(facts: ImageFacts, camera: Camera | None, policy: Policy) -> list[Finding]:
    """Edits, the EXIF size, quality (the camera's minimum, else 95) and the native size."""
    found: list[Finding] = []
    if policy.applies("edits"):
        found += edit_findings(facts, camera, policy)
    if policy.applies("exif_size") and _exif_size_differs(facts):
        found.append((Reason.EXIF_SIZE_MISMATCH, f"EXIF records {facts.exif_width}x{facts.exif_height}, "
                      f"the image is {facts.width}x{facts.height}"))
    if policy.applies("quality"):
        found += quality_findings(facts, camera, policy)
    if policy.applies("native_size") and camera is not None:
        found += native_size_findings(facts.width, facts.height, camera)
    return found


def edit_findings(facts: ImageFacts, camera: Camera | None, policy: Policy) -> list[Finding]:
    """Traces of editing software: Software, CreatorTool, XMP history, Camera Raw, Adobe segments."""
    found: list[Finding] = []
    found += software_findings(facts.software, camera, policy)
    if _is_edit(facts.xmp_creator_tool, camera, policy):
        found.append((Reason.EDITED_CREATOR_TOOL, f"XMP CreatorTool {facts.xmp_creator_tool!r}"))
    if facts.xmp_history_agents:
        found.append((Reason.XMP_EDIT_HISTORY, "XMP history by " + ", ".join(facts.xmp_history_agents)))
    if facts.has_camera_raw:
        found.append((Reason.CAMERA_RAW_SETTINGS, "XMP Camera Raw (crs:) settings"))
    if facts.has_photoshop_irb and not facts.photoshop_iptc_only:
        found.append((Reason.PHOTOSHOP_RESOURCES, "Photoshop APP13 resources beyond IPTC"))
    if facts.has_adobe_app14:
        found.append((Reason.ADOBE_APP14, "an Adobe APP14 segment"))
    return found


def quality_findings(facts: ImageFacts, camera: Camera | None, policy: Policy) -> list[Finding]:
    value = facts.quality if policy.estimate == "corrected" else facts.quality_imagemagick
    if value is None:
        return [(Reason.QUALITY_UNKNOWN, "no quantization tables to estimate the quality from")]
    minimum = policy.min_quality or (camera.min_quality if camera else DEFAULT_MIN_QUALITY)
    return [(Reason.LOW_QUALITY, f"quality {value} < {minimum}")] if value < minimum else []


def encoder_findings(facts: ImageFacts, camera: Camera, policy: Policy, book: SignatureBook,
                     flags: list[str]) -> list[Finding]:
    """foreign_encoder, or the resaved flag (a reason only when the policy rejects re-saves)."""
    if not policy.applies("encoder") or facts.signature is None:
        return []
    check = check_encoder(facts.signature, camera, book)
    if check.status == "foreign":
        return [(Reason.FOREIGN_ENCODER, check.detail)]
    if check.status == "resaved":
        flags.append("resaved")
        if policy.applies("reject_resaved"):
            return [(Reason.RESAVED, check.detail)]
    return []


# ---- rules on one or two header values, which the source pre-filters call too ----------------


def format_findings(fmt: str) -> list[Finding]:
    """Only JPEGs are camera originals here; the format is the real one, not a file name's."""
    return [] if fmt == "jpeg" else [(Reason.NOT_JPEG, f"the file is {fmt}")]


def label_findings(match: LabelMatch, make: str | None, model: str | None) -> list[Finding]:
    """Why EXIF Make and Model name no class of the registry (unknown or excluded), if they do not."""
    return [] if match.reason is None else [(match.reason, f"EXIF Make {make!r}, Model {model!r}")]


def software_findings(software: str | None, camera: Camera | None, policy: Policy) -> list[Finding]:
    """A Software value that is an edit (see ``_is_edit``), with the value."""
    return [(Reason.EDITED_SOFTWARE, f"Software {software!r}")] if _is_edit(software, camera, policy) else []


def native_size_findings(width: int | None, height: int | None, camera: Camera) -> list[Finding]:
    """A size that is none of the camera's native ones; an unknown size is not native either."""
    if width is not None and height is not None and camera.is_native_size(width, height):
        return []
    sizes = ", ".join(f"{w}x{h}" for w, h in camera.sizes)
    return [(Reason.NON_NATIVE_SIZE, f"{width}x{height} is not native to {camera.id} ({sizes})")]


def _is_edit(software: str | None, camera: Camera | None, policy: Policy) -> bool:
    """Firmware (per the registry) is not an edit; a known editor is; anything else per policy."""
    if software is None or not software.strip():
        return False
    if camera is not None and camera.is_firmware_software(software):
        return False
    return policy.is_editor(software) or policy.unknown_is_edit


def _exif_size_differs(facts: ImageFacts) -> bool:
    if None in (facts.exif_width, facts.exif_height, facts.width, facts.height):
        return False
    recorded = (facts.exif_width, facts.exif_height)
    return recorded not in ((facts.width, facts.height), (facts.height, facts.width))


def _verdict(label: str | None, found: list[Finding], flags: list[str], registry: Registry,
             policy: Policy) -> Verdict:
    """One entry per reason (the first detail of a reason that failed twice wins)."""
    unique: dict[Reason, str] = {}
    for reason, detail in found:
        unique.setdefault(reason, detail)
    return Verdict(accepted=not unique, label=label, reasons=tuple(unique), policy_hash=policy.hash,
                   registry_hash=registry.hash, details=tuple(unique.values()), flags=tuple(flags))
