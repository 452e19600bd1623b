"""The source pre-filter: the verdict's own rules, on the facts a source's metadata gives.

Some sources say things about a file before it is fetched: Wikimedia Commons gives its MIME type
and EXIF Make, Model and Software with its size; Flickr's search gives the original's format and
``o_dims``. A file those facts already condemn need not be downloaded. The pre-filter does not
have rules of its own: it calls the rule functions ``pipeline.verdict.judge`` calls, under the same
policy switches, so it cannot rule out a file that curation would keep (nor give it another code).

It is limited to the checks these facts can decide. A fact the metadata does not give is never a
reason: no size means no size check, no Make/Model means the file is checked as the camera the
query was about (curation labels it later from its own EXIF), and nothing is said about quality,
the scan, the encoder signature or the pixels, which only the file itself holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.policy import Policy
from pipeline.records import Reason
from pipeline.registry import Camera, Registry
from pipeline.scan_checks import Finding
from pipeline.verdict import format_findings, label_findings, native_size_findings, software_findings

# the only reasons the pre-filter can give (a subset of the verdict's, with the same codes)
PREFILTER_REASONS = frozenset({Reason.NOT_JPEG, Reason.UNKNOWN_CAMERA, Reason.EXCLUDED_MODEL,
                               Reason.EDITED_SOFTWARE, Reason.NON_NATIVE_SIZE})


@dataclass(frozen=True, slots=True)
class MetadataFacts:
    """What a source's metadata says about a file; None where it says nothing.

    ``format`` is a format name as ``ImageFacts.format`` has it ("jpeg", "png", ...).
    """

    format: str | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    width: int | None = None
    height: int | None = None


def prefilter(meta: MetadataFacts, claimed: Camera, policy: Policy,
              registry: Registry | None = None) -> tuple[Finding, ...]:
    """Every reason the metadata already gives to reject the file, in the verdict's order.

    ``claimed`` is the camera the query was about: the checks run against it unless the metadata
    names a camera itself (Make and Model), which ``registry`` then labels, as the verdict does.
    A source whose metadata never names one (Flickr's search) may pass no registry.
    """
    wrong_format = format_findings(meta.format) if meta.format is not None else []
    if wrong_format:
        return tuple(wrong_format)  # as in the verdict, nothing else is judged on another format
    found: list[Finding] = []
    camera: Camera | None = claimed
    if meta.make and meta.model:
        if registry is None:
            raise ValueError("metadata that names a camera needs a registry to label it")
        match = registry.match(meta.make, meta.model)
        found += label_findings(match, meta.make, meta.model)
        camera = registry.get(match.label) if match.label else None
    if policy.applies("edits"):
        found += software_findings(meta.software, camera, policy)
    if policy.applies("native_size") and camera is not None and meta.width and meta.height:
        found += native_size_findings(meta.width, meta.height, camera)
    return tuple(found)

