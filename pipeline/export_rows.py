"""What an accepted file means in a dataset: its uploader, its attribution URL, its manifest row.

The catalog hands back what it stores (``AcceptedImage``: a candidate's ``author``, ``page_url``
and ``url`` as the scraper found them); the meaning is decided here, once, for the split
grouping, ``ATTRIBUTION.md`` and the manifest alike, so no query has to know it.
"""

from __future__ import annotations

from pipeline.records import AcceptedImage, ExportItem, ManifestRow


def export_item(stored: AcceptedImage) -> ExportItem:
    """The dataset's view of a stored accepted image.

    The uploader is the candidate's author (an empty name is no name: it must not group
    strangers together in the split); the attribution URL is the page that shows the photo and
    its licence, or the file's own URL when the source has no such page.
    """
    return ExportItem(
        sha256=stored.sha256, path=stored.path, label=stored.label, source=stored.source,
        uploader=stored.author or None, licence=stored.licence,
        attribution_url=stored.page_url or stored.url or None, phash=stored.phash,
        make=stored.make, model=stored.model, width=stored.width, height=stored.height,
        subsampling=stored.subsampling)


def manifest_row(item: ExportItem, path: str) -> ManifestRow:
    """The item's row in train/val CSVs; ``path`` is the image's path relative to the dataset."""
    return ManifestRow(
        path=path, sha256=item.sha256, label=item.label, source=item.source,
        uploader=item.uploader, licence=item.licence, attribution_url=item.attribution_url,
        make=item.make, model=item.model, width=item.width, height=item.height,
        subsampling=item.subsampling)
