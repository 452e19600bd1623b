"""The dataset card's queries: accepted files, rejections by reason and a few examples of each.

``DatasetCard`` is the part of ``db.catalog.Catalog`` that ``camid report`` reads. The accepted
files come whole (the card counts them: sizes, qualities, uploaders, licences), but small rows;
rejections are counted by reason in SQL, and the examples are bounded in SQL too (a window
function ranks each reason's files, by content hash, and keeps the first ``per_reason``), so a
catalog of any size hands back at most ``per_reason`` files per reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from db.models import CandidateRow, ImageRow, VerdictReasonRow, VerdictRow
from db.sqlkit import chunks
from pipeline.card import CardImage, CatalogCard, RejectionExample


class DatasetCard:
    """What a dataset card shows of the catalog."""

    engine: Engine

    def card_catalog(self, per_reason: int) -> CatalogCard:
        """Accepted files, rejections counted by reason, at most ``per_reason`` examples of each."""
        c, v, r = CandidateRow, VerdictRow, VerdictReasonRow
        with self.engine.connect() as conn:
            accepted = _accepted(conn)
            rejected_files = conn.execute(select(func.count()).select_from(v)
                                          .where(v.accepted.is_(False))).scalar_one()
            by_reason = conn.execute(select(r.reason, func.count()).select_from(r)
                                     .join(v, v.id == r.verdict_id).where(v.accepted.is_(False))
                                     .group_by(r.reason).order_by(r.reason)).all()
            examples = _examples(conn, per_reason) if per_reason > 0 else ()
            first, last = conn.execute(select(func.min(c.created_at), func.max(c.created_at))).one()
            hashes = conn.execute(select(v.policy_hash, v.registry_hash).where(v.accepted.is_(True))
                                  .distinct().order_by(v.policy_hash, v.registry_hash)).all()
        return CatalogCard(accepted=accepted, rejected_files=int(rejected_files),
                           rejected_by_reason=tuple((reason, int(n)) for reason, n in by_reason),
                           examples=examples, first_found=first, last_found=last,
                           verdict_hashes=tuple((p, h) for p, h in hashes))


def _accepted(conn: Connection) -> tuple[CardImage, ...]:
    """Every accepted image once, with the first candidate that found it."""
    c, i, v = CandidateRow, ImageRow, VerdictRow
    stmt = (select(i.sha256, i.path, v.label, c.camera, c.source, c.author, c.licence, i.width,
                   i.height, i.quality, i.bytes)
            .join(v, v.image_id == i.id)
            .join(c, c.image_id == i.id)
            .where(v.accepted.is_(True))
            .order_by(i.sha256, c.id))
    found: dict[str, CardImage] = {}
    for row in conn.execute(stmt):
        if row.sha256 not in found:
            found[row.sha256] = _image(row, row.label)
    return tuple(found.values())


def _examples(conn: Connection, per_reason: int) -> tuple[RejectionExample, ...]:
    """The first ``per_reason`` rejected files of each reason (by SHA-256), with every reason of
    their verdicts and their first candidate's attribution."""
    i, v, r = ImageRow, VerdictRow, VerdictReasonRow
    rank = func.row_number().over(partition_by=r.reason, order_by=i.sha256).label("rank")
    ranked = (select(r.reason, r.detail, r.verdict_id, v.label, i.id.label("image_id"), i.sha256, i.path,
                     i.width, i.height, i.quality, i.bytes, rank)
              .join(v, v.id == r.verdict_id).join(i, i.id == v.image_id)
              .where(v.accepted.is_(False))
              .subquery())
    rows = conn.execute(select(ranked).where(ranked.c.rank <= per_reason)
                        .order_by(ranked.c.reason, ranked.c.rank)).all()
    reasons = _reasons_of(conn, {row.verdict_id for row in rows})
    finders = _first_candidates(conn, {row.image_id for row in rows})
    out = []
    for row in rows:
        cand = finders.get(row.image_id)
        image = CardImage(sha256=row.sha256, path=row.path, label=row.label,
                          claimed=cand.camera if cand else None, source=cand.source if cand else None,
                          uploader=(cand.author or None) if cand else None,
                          licence=cand.licence if cand else None, width=row.width, height=row.height,
                          quality=row.quality, bytes=row.bytes)
        every = reasons.get(row.verdict_id, (row.reason,))
        out.append(RejectionExample(row.reason, row.detail, image, every))
    return tuple(out)


def _reasons_of(conn: Connection, verdict_ids: Iterable[int]) -> dict[int, tuple[str, ...]]:
    r = VerdictReasonRow
    found: dict[int, list[str]] = {}
    for chunk in chunks(sorted(verdict_ids)):
        for vid, reason in conn.execute(select(r.verdict_id, r.reason).where(r.verdict_id.in_(chunk))
                                        .order_by(r.verdict_id, r.reason)):
            found.setdefault(vid, []).append(reason)
    return {vid: tuple(reasons) for vid, reasons in found.items()}


def _first_candidates(conn: Connection, image_ids: Iterable[int]) -> dict[int, Any]:
    c = CandidateRow
    found: dict[int, Any] = {}
    for chunk in chunks(sorted(image_ids)):
        for row in conn.execute(select(c.image_id, c.camera, c.source, c.author, c.licence)
                                .where(c.image_id.in_(chunk)).order_by(c.image_id, c.id)):
            found.setdefault(row.image_id, row)
    return found


def _image(row: Any, label: str | None) -> CardImage:
    return CardImage(sha256=row.sha256, path=row.path, label=label, claimed=row.camera, source=row.source,
                     uploader=row.author or None, licence=row.licence, width=row.width, height=row.height,
                     quality=row.quality, bytes=row.bytes)
