"""What the catalog knows of encoder signatures: how many files and uploaders carry each one.

``Signatures`` is the part of ``db.catalog.Catalog`` that ``pipeline.signature_book`` learns
from: counts per camera, firmware, size, quality and signature, a readable example of each, and
each measured file's thumbnail agreement (``pipeline.thumbnail_book`` learns each camera's).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Engine, func, select

from db.models import CandidateRow, ImageRow
from pipeline.evidence import EncoderSignature, SignatureCount, ThumbnailSample
from pipeline.facts_codec import facts_from_json


class Signatures:
    """Signature counts and examples, for learning which signatures each camera writes."""

    engine: Engine

    def signature_counts(self) -> list[SignatureCount]:
        """Files per make/model/firmware, size, quality, signature and uploader (for learning).

        The uploader (source and author) is grouped on in SQL: counting distinct files per
        uploader there is what keeps this one aggregate instead of a row per candidate.
        """
        i, c = ImageRow, CandidateRow
        uploader = c.source + ":" + func.coalesce(c.author, "")
        stmt = (select(i.make, i.model, i.software, i.width, i.height, i.quality, i.signature, uploader,
                       func.count(func.distinct(i.id)))
                .join(c, c.image_id == i.id)
                .where(i.signature.is_not(None))
                .group_by(i.make, i.model, i.software, i.width, i.height, i.quality, i.signature, uploader))
        with self.engine.connect() as conn:
            return [SignatureCount(make, model, software, width, height, quality, str(sig), who, files)
                    for make, model, software, width, height, quality, sig, who, files in conn.execute(stmt)]

    def signature_examples(self, ids: Sequence[str]) -> dict[str, EncoderSignature]:
        """The readable parts of each signature id, from one file that carries it."""
        first = (select(ImageRow.signature, func.min(ImageRow.id).label("image_id"))
                 .where(ImageRow.signature.in_(list(ids))).group_by(ImageRow.signature).subquery())
        stmt = select(first.c.signature, ImageRow.facts_json).join(ImageRow, ImageRow.id == first.c.image_id)
        out = {}
        with self.engine.connect() as conn:
            for sig, doc in conn.execute(stmt):
                signature = facts_from_json(json.loads(doc)).signature
                if signature is not None:
                    out[sig] = signature
        return out

    def thumbnail_samples(self) -> list[ThumbnailSample]:
        """Every measured file's worst-region thumbnail difference, once per uploader of it.

        Read from the stored pixel facts (JSON, so one query on SQLite and PostgreSQL alike);
        files without a decodable thumbnail have no value and are left out.
        """
        i, c = ImageRow, CandidateRow
        uploader = c.source + ":" + func.coalesce(c.author, "")
        stmt = (select(i.make, i.model, i.width, i.height, i.quality, i.signature, uploader, i.pixel_json)
                .join(c, c.image_id == i.id)
                .where(i.signature.is_not(None), i.pixel_json.is_not(None))
                .distinct())
        out = []
        with self.engine.connect() as conn:
            for make, model, width, height, quality, sig, who, doc in conn.execute(stmt):
                value = json.loads(doc or "{}").get("thumbnail_local")
                if value is not None:
                    out.append(ThumbnailSample(make, model, width, height, quality, str(sig), who,
                                               float(value)))
        return out
