"""What an accepted file means in a dataset: its uploader, attribution URL, device and manifest row.

The catalog hands back what it stores (``AcceptedImage``: a candidate's ``author``, ``page_url``
and ``url`` as the scraper found them, the file's EXIF serial number); the meaning is decided
here, once, for the split grouping, ``ATTRIBUTION.md`` and the manifest alike, so no query has
to know it.
"""

from __future__ import annotations

import hashlib

from pipeline.records import AcceptedImage, ExportItem, ManifestRow

# serial numbers that name no device: cameras that leave the field blank write these
PLACEHOLDER_SERIALS = frozenset({"unknown", "none", "null", "n/a", "na", "serial", "serialnumber"})
_FILLER = "0 -_./"


def export_item(stored: AcceptedImage) -> ExportItem:
    """The dataset's view of a stored accepted image.

    The uploader is the candidate's author (an empty name is no name: it must not group
    strangers together in the split); the attribution URL is the page that shows the photo and
    its licence, or the file's own URL when the source has no such page.
    """
    uploader = stored.author or None
    return ExportItem(
        sha256=stored.sha256, path=stored.path, label=stored.label, source=stored.source,
        uploader=uploader, licence=stored.licence,
        attribution_url=stored.page_url or stored.url or None, phash=stored.phash,
        make=stored.make, model=stored.model, width=stored.width, height=stored.height,
        subsampling=stored.subsampling,
        device=device_key(stored.make, stored.model, stored.serial, stored.source, uploader))


def device_key(make: str | None, model: str | None, serial: str | None, source: str,
               uploader: str | None) -> str | None:
    """Which device took the photo, as a key the split keeps on one side.

    ``serial:<16 hex>`` is the start of SHA-256 of ``make|model|serial``: a serial number is
    personal data (it ties photos to one owner), so only its hash reaches a manifest, and the
    camera is part of it because serials repeat across models. Without a serial the uploader
    (``uploader:<source>:<name>``) stands in: on the web one account is mostly one person's
    cameras. None when neither is known (the item is then grouped by near duplicates only).
    """
    if is_serial(serial):
        text = f"{make or ''}|{model or ''}|{(serial or '').strip()}"
        return "serial:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    if uploader:
        return f"uploader:{source}:{uploader}"
    return None


def is_serial(serial: str | None) -> bool:
    """Whether a recorded serial number names a device (not blank, zeros or a placeholder word)."""
    text = (serial or "").strip()
    return bool(text.strip(_FILLER)) and text.casefold() not in PLACEHOLDER_SERIALS


def manifest_row(item: ExportItem, path: str) -> ManifestRow:
    """The item's row in the split CSVs; ``path`` is the image's path relative to the dataset."""
    return ManifestRow(
        path=path, sha256=item.sha256, label=item.label, source=item.source,
        uploader=item.uploader, licence=item.licence, attribution_url=item.attribution_url,
        make=item.make, model=item.model, width=item.width, height=item.height,
        subsampling=item.subsampling, device=item.device)
