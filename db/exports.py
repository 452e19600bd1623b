"""Exports: the accepted files a dataset is made of, and the datasets written from them.

``Exports`` is the part of ``db.catalog.Catalog`` that ``camid export`` reads and writes. It
hands back what the catalog stores (``AcceptedImage``: the candidate's author, page URL and URL
as found, the file's EXIF camera, size, subsampling and serial number); what those mean in a dataset
(uploader, attribution URL, device key) is ``pipeline.export_rows``'s business, not a query's.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from db.connection import one_writer_at_a_time
from db.models import CandidateRow, ExportRow, ImageRow, VerdictRow
from pipeline.facts_codec import facts_from_json
from pipeline.records import AcceptedImage, ExportSummary


class Exports:
    """Accepted files (with the hashes behind their verdicts) and recorded exports."""

    engine: Engine

    def accepted_items(self) -> list[AcceptedImage]:
        """Accepted images, once each, with the stored attribution of the first candidate that
        found them."""
        c, i, v = CandidateRow, ImageRow, VerdictRow
        stmt = (select(i.sha256, i.path, v.label, c.source, c.author, c.licence, c.page_url, c.url,
                       i.phash, i.make, i.model, i.width, i.height, i.facts_json)
                .join(v, v.image_id == i.id)
                .join(c, c.image_id == i.id)
                .where(v.accepted.is_(True))
                .order_by(i.sha256, c.id))
        items: dict[str, AcceptedImage] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(stmt):
                if row.sha256 not in items:
                    items[row.sha256] = _accepted(row)
        return list(items.values())

    def accepted_verdict_hashes(self) -> set[tuple[str, str]]:
        """The (policy hash, registry hash) pairs behind the accepted verdicts."""
        stmt = (select(VerdictRow.policy_hash, VerdictRow.registry_hash)
                .where(VerdictRow.accepted.is_(True)).distinct())
        with self.engine.connect() as conn:
            return {(p, r) for p, r in conn.execute(stmt)}

    def record_export(self, name: str, path: str, manifest: ExportSummary) -> None:
        """Remember an export (replacing an older one of the same name)."""
        with self.engine.begin() as conn:
            one_writer_at_a_time(conn, "exports")
            conn.execute(delete(ExportRow).where(ExportRow.name == name))
            conn.execute(insert(ExportRow), {
                "name": name, "path": path, "rows_sha256": manifest.rows_sha256,
                "registry_hash": manifest.registry_hash, "policy_hash": manifest.policy_hash,
                "seed": manifest.seed, "counts_json": manifest.counts_json})


def _accepted(row: Any) -> AcceptedImage:
    """One joined row as the record; '' in ``phash`` is the catalog's "tried, no hash"."""
    facts = facts_from_json(json.loads(row.facts_json)) if row.facts_json else None
    return AcceptedImage(
        sha256=row.sha256, path=row.path, label=row.label, source=row.source, author=row.author,
        licence=row.licence, page_url=row.page_url, url=row.url, phash=row.phash or None,
        make=row.make, model=row.model, width=row.width, height=row.height,
        subsampling=facts.subsampling if facts is not None else None,
        serial=facts.serial if facts is not None else None)
