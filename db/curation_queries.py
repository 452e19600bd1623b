"""Catalog queries of the curation stage: facts to read, verdicts to (re)compute, rows to export.

Kept apart from ``db.catalog`` so each module stays small; ``Catalog`` exposes these as methods.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update

from db.models import CandidateRow, ImageRow, VerdictReasonRow, VerdictRow
from db.queue import skip_locked
from pipeline.evidence import EncoderSignature, SignatureCount
from pipeline.facts_codec import facts_from_json, facts_to_json, pixels_from_json, pixels_to_json
from pipeline.records import (
    ExportItem,
    FactsUpdate,
    PerceptualHash,
    PixelTask,
    PixelUpdate,
    Reason,
    StoredFacts,
    StoredImage,
)

_SAVE_FACTS = (
    update(ImageRow)
    .where(ImageRow.sha256 == bindparam("k_sha"))
    .values(facts_json=bindparam("v_json"), facts_hash=bindparam("v_hash"),
            reader_version=bindparam("v_reader"), phash=bindparam("v_phash"),
            width=bindparam("v_width"), height=bindparam("v_height"), make=bindparam("v_make"),
            model=bindparam("v_model"), software=bindparam("v_software"),
            quality=bindparam("v_quality"), signature=bindparam("v_signature"), claimed_by=None,
            claimed_until=None)
)


def _needs_facts(reader_version: int) -> Any:
    return or_(ImageRow.reader_version.is_(None), ImageRow.reader_version != reader_version)


def count_images_needing_facts(conn: Connection, reader_version: int) -> int:
    """How many stored images were never read, or read by an older facts reader."""
    stmt = select(func.count()).select_from(ImageRow).where(_needs_facts(reader_version))
    return conn.execute(stmt).scalar_one()


def claim_images_needing_facts(conn: Connection, claimer: str, now: datetime,
                               lease_until: datetime, reader_version: int,
                               limit: int) -> list[StoredImage]:
    """Lease up to ``limit`` images to read, so several curators never read one file twice.

    The same lease as the download queue's (``db.queue``): a crashed curator's images come back
    when its lease ends; saving an image's facts ends its lease.
    """
    free = or_(ImageRow.claimed_until.is_(None), ImageRow.claimed_until < now)
    ids = skip_locked(conn, select(ImageRow.id).where(_needs_facts(reader_version), free)
                      .limit(limit))
    stmt = (update(ImageRow).where(ImageRow.id.in_(ids.scalar_subquery()))
            .values(claimed_by=claimer, claimed_until=lease_until)
            .returning(ImageRow.sha256, ImageRow.path))
    return sorted((StoredImage(sha, path) for sha, path in conn.execute(stmt)),
                  key=lambda image: image.sha256)


def live_image_claimers(conn: Connection, now: datetime) -> list[str]:
    """Curators whose image leases have not ended (the caller decides which are dead)."""
    stmt = (select(ImageRow.claimed_by).distinct()
            .where(ImageRow.claimed_by.is_not(None), ImageRow.claimed_until >= now))
    return [c for (c,) in conn.execute(stmt)]


def release_image_claims(conn: Connection, claimer: str) -> int:
    """End every image lease of ``claimer`` (it stops, or is known to be gone)."""
    stmt = (update(ImageRow).where(ImageRow.claimed_by == claimer)
            .values(claimed_by=None, claimed_until=None))
    return conn.execute(stmt).rowcount


def save_facts(conn: Connection, updates: Sequence[FactsUpdate]) -> None:
    conn.execute(_SAVE_FACTS, [
        {"k_sha": u.sha256, "v_json": json.dumps(facts_to_json(u.facts), sort_keys=True),
         "v_hash": u.facts_hash, "v_reader": u.reader_version, "v_phash": u.phash,
         "v_width": u.facts.width, "v_height": u.facts.height, "v_make": _cut(u.facts.make),
         "v_model": _cut(u.facts.model), "v_software": _cut(u.facts.software),
         "v_quality": u.facts.quality,
         "v_signature": u.facts.signature.id if u.facts.signature is not None else None}
        for u in updates])


def images_to_judge(conn: Connection, policy_hash: str, registry_hash: str,
                    signatures_hash: str) -> list[StoredFacts]:
    """Facts and pixel facts of images whose verdict is missing or out of date.

    A verdict is out of date when the facts, the pixel facts, the policy, the registry or the
    learned signatures it was computed from changed; everything else keeps its verdict
    (re-running curate is cheap).
    """
    v, i = VerdictRow, ImageRow
    rows = conn.execute(
        select(i.sha256, i.facts_json, i.facts_hash, i.pixel_json, i.pixel_hash)
        .outerjoin(v, v.image_id == i.id)
        .where(i.facts_json.is_not(None))
        .where(or_(v.id.is_(None), v.policy_hash != policy_hash, v.registry_hash != registry_hash,
                   v.facts_hash.is_(None), v.facts_hash != i.facts_hash,
                   v.signatures_hash.is_(None), v.signatures_hash != signatures_hash,
                   v.pixel_hash.is_distinct_from(i.pixel_hash)))
        .order_by(i.sha256)
    )
    return [StoredFacts(sha, facts_from_json(json.loads(doc)), fh,
                        pixels_from_json(json.loads(pixel_doc)) if pixel_doc else None, pixel_hash)
            for sha, doc, fh, pixel_doc, pixel_hash in rows]


def images_needing_pixels(conn: Connection, pixel_version: int) -> list[PixelTask]:
    """Files the header stage passed that wait for the pixel stage, and files measured by an
    older version of its detectors."""
    i, v, r = ImageRow, VerdictRow, VerdictReasonRow
    waiting = (select(v.image_id).join(r, r.verdict_id == v.id)
               .where(r.reason == Reason.PIXELS_UNCHECKED.value))
    rows = conn.execute(
        select(i.sha256, i.path, i.facts_json)
        .where(or_(i.id.in_(waiting), and_(i.pixel_json.is_not(None), i.pixel_version != pixel_version)))
        .order_by(i.sha256))
    return [PixelTask(sha, path, facts_from_json(json.loads(doc))) for sha, path, doc in rows]


def save_pixels(conn: Connection, updates: Sequence[PixelUpdate]) -> None:
    """Store pixel facts, their version and digest, and the perceptual hash measured with them."""
    conn.execute(
        update(ImageRow).where(ImageRow.sha256 == bindparam("k_sha"))
        .values(pixel_json=bindparam("v_json"), pixel_version=bindparam("v_version"),
                pixel_hash=bindparam("v_hash"), phash=bindparam("v_phash")),
        [{"k_sha": u.sha256, "v_json": json.dumps(pixels_to_json(u.pixels), sort_keys=True),
          "v_version": u.version, "v_hash": u.pixel_hash, "v_phash": u.pixels.phash or ""}
         for u in updates])


def signature_counts(conn: Connection) -> list[SignatureCount]:
    """Files per make/model/firmware, size, quality, signature and uploader (for learning)."""
    i, c = ImageRow, CandidateRow
    uploader = c.source + ":" + func.coalesce(c.author, "")
    rows = conn.execute(
        select(i.make, i.model, i.software, i.width, i.height, i.quality, i.signature, uploader,
               func.count(func.distinct(i.id)))
        .join(c, c.image_id == i.id)
        .where(i.signature.is_not(None))
        .group_by(i.make, i.model, i.software, i.width, i.height, i.quality, i.signature, uploader))
    return [SignatureCount(*row) for row in rows]


def signature_examples(conn: Connection, ids: Sequence[str]) -> dict[str, EncoderSignature]:
    """The readable parts of each signature id, from one file that carries it."""
    first = (select(ImageRow.signature, func.min(ImageRow.id).label("image_id"))
             .where(ImageRow.signature.in_(list(ids))).group_by(ImageRow.signature).subquery())
    rows = conn.execute(select(first.c.signature, ImageRow.facts_json)
                        .join(ImageRow, ImageRow.id == first.c.image_id))
    out = {}
    for sig, doc in rows:
        signature = facts_from_json(json.loads(doc)).signature
        if signature is not None:
            out[sig] = signature
    return out


def accepted_without_phash(conn: Connection) -> list[StoredImage]:
    rows = conn.execute(
        select(ImageRow.sha256, ImageRow.path)
        .join(VerdictRow, VerdictRow.image_id == ImageRow.id)
        .where(VerdictRow.accepted.is_(True), ImageRow.phash.is_(None))
        .order_by(ImageRow.sha256)
    )
    return [StoredImage(sha, path) for sha, path in rows]


def save_phashes(conn: Connection, hashes: Sequence[PerceptualHash]) -> None:
    """Store perceptual hashes; a file that cannot be hashed gets '' (tried, no hash)."""
    conn.execute(
        update(ImageRow).where(ImageRow.sha256 == bindparam("k_sha")).values(phash=bindparam("v")),
        [{"k_sha": h.sha256, "v": h.phash or ""} for h in hashes])


def accepted_verdict_hashes(conn: Connection) -> set[tuple[str, str]]:
    """The (policy hash, registry hash) pairs behind the accepted verdicts."""
    rows = conn.execute(select(VerdictRow.policy_hash, VerdictRow.registry_hash)
                        .where(VerdictRow.accepted.is_(True)).distinct())
    return {(p, r) for p, r in rows}


def accepted_items(conn: Connection) -> list[ExportItem]:
    """Accepted images, once each, with the attribution of the first candidate that found them."""
    c, i, v = CandidateRow, ImageRow, VerdictRow
    rows = conn.execute(
        select(i.sha256, i.path, v.label, c.source, c.author, c.licence, c.page_url, c.url,
               i.phash)
        .join(v, v.image_id == i.id)
        .join(c, c.image_id == i.id)
        .where(v.accepted.is_(True))
        .order_by(i.sha256, c.id)
    )
    items: dict[str, ExportItem] = {}
    for sha, path, label, source, author, licence, page_url, url, phash in rows:
        if sha not in items:
            items[sha] = ExportItem(sha, path, label, source, author, licence, page_url or url,
                                    phash or None)
    return list(items.values())


def _cut(text: str | None, limit: int = 255) -> str | None:
    return text[:limit] if text is not None else None


def image_ids(conn: Connection, shas: Sequence[str]) -> dict[str, int]:
    """Image row id per sha256 (for the shas that are stored)."""
    ids: dict[str, int] = {}
    for chunk in chunks(list(shas)):
        rows = conn.execute(select(ImageRow.sha256, ImageRow.id).where(ImageRow.sha256.in_(chunk)))
        ids.update((sha, image_id) for sha, image_id in rows)
    return ids


def chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    """Slices small enough for any database's limit on bound parameters."""
    for i in range(0, len(items), size):
        yield items[i:i + size]

