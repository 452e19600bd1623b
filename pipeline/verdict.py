"""The verdict: a pure function of (facts, registry, policy) listing *every* failing reason.

Every reason is reported, not the first, so the catalog can say how much each check costs a
source ("half of Flickr's iPhone 6 files are resized") and a policy change can be reasoned about.
The label comes only from the file's own EXIF Make and Model through the registry.
"""

from __future__ import annotations

from pipeline.policy import Policy
from pipeline.records import ImageFacts, Reason, Verdict
from pipeline.registry import Camera, Registry

DEFAULT_MIN_QUALITY = 95


def judge(facts: ImageFacts, registry: Registry, policy: Policy) -> Verdict:
    """Accept or reject one file; ``reasons`` holds every failing check, in a stable order."""
    reasons: list[Reason] = []
    if facts.format is None:
        return _verdict(None, [Reason.UNREADABLE], registry, policy)
    if facts.format != "jpeg":
        return _verdict(None, [Reason.NOT_JPEG], registry, policy)
    if facts.error is not None:
        reasons.append(Reason.TRUNCATED if facts.truncated else Reason.CORRUPT)
        return _verdict(None, reasons, registry, policy)
    if policy.applies("require_eoi") and facts.truncated:
        reasons.append(Reason.TRUNCATED)
    if policy.applies("reject_corrupt") and facts.corrupt:
        reasons.append(Reason.CORRUPT)
    if policy.applies("require_exif") and not facts.has_exif:
        reasons.append(Reason.NO_EXIF)
    match = registry.match(facts.make, facts.model)
    if match.reason is not None:
        reasons.append(match.reason)
    camera = registry.get(match.label) if match.label else None
    if policy.applies("edits"):
        reasons += edit_reasons(facts, camera, policy)
    if policy.applies("exif_size") and _exif_size_differs(facts):
        reasons.append(Reason.EXIF_SIZE_MISMATCH)
    if policy.applies("quality"):
        reasons += quality_reasons(facts, camera, policy)
    if policy.applies("native_size") and camera is not None and not _native(facts, camera):
        reasons.append(Reason.NON_NATIVE_SIZE)
    return _verdict(match.label, reasons, registry, policy)


def edit_reasons(facts: ImageFacts, camera: Camera | None, policy: Policy) -> list[Reason]:
    """Traces of editing software: Software, CreatorTool, XMP history, Camera Raw, Adobe segments."""
    reasons = []
    if _is_edit(facts.software, camera, policy):
        reasons.append(Reason.EDITED_SOFTWARE)
    if _is_edit(facts.xmp_creator_tool, camera, policy):
        reasons.append(Reason.EDITED_CREATOR_TOOL)
    if facts.xmp_history_agents:
        reasons.append(Reason.XMP_EDIT_HISTORY)
    if facts.has_camera_raw:
        reasons.append(Reason.CAMERA_RAW_SETTINGS)
    if facts.has_photoshop_irb and not facts.photoshop_iptc_only:
        reasons.append(Reason.PHOTOSHOP_RESOURCES)
    if facts.has_adobe_app14:
        reasons.append(Reason.ADOBE_APP14)
    return reasons


def quality_reasons(facts: ImageFacts, camera: Camera | None, policy: Policy) -> list[Reason]:
    value = facts.quality if policy.estimate == "corrected" else facts.quality_imagemagick
    if value is None:
        return [Reason.QUALITY_UNKNOWN]
    minimum = policy.min_quality or (camera.min_quality if camera else DEFAULT_MIN_QUALITY)
    return [Reason.LOW_QUALITY] if value < minimum else []


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


def _native(facts: ImageFacts, camera: Camera) -> bool:
    return facts.width is not None and facts.height is not None and camera.is_native_size(
        facts.width, facts.height)


def _verdict(label: str | None, reasons: list[Reason], registry: Registry, policy: Policy) -> Verdict:
    unique = tuple(dict.fromkeys(reasons))
    return Verdict(accepted=not unique, label=label, reasons=unique, policy_hash=policy.hash,
                   registry_hash=registry.hash)
