"""What curation measures about each stored file: header facts, pixel facts, perceptual hashes.

``CurationStore`` is the part of ``db.catalog.Catalog`` that owns these measurements on the
images table, and the curators' leases on reading them: several curators (processes, Dask tasks,
machines) share one catalog and never read one file twice. The lease is the download queue's
kind (``db.download_queue``): a crashed curator's images come back when its lease ends, and
saving an image's facts ends its lease. Verdicts on these facts live in ``db.verdicts``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, and_, bindparam, func, or_, select, update

from db.models import ImageRow, VerdictReasonRow, VerdictRow
from db.sqlkit import skip_locked, stored_json
from pipeline.facts_codec import facts_from_json, facts_to_json, pixels_to_json
from pipeline.records import (
    FactsUpdate,
    PerceptualHash,
    PixelTask,
    PixelUpdate,
    Reason,
    StoredImage,
)

_I = ImageRow


class CurationStore:
    """Facts and their readers' leases, pixel facts, perceptual hashes."""

    engine: Engine

    # ---- header facts and the curators' leases on reading them ---------------------------------

    def count_images_needing_facts(self, reader_version: int) -> int:
        """How many stored images were never read, or read by an older facts reader."""
        stmt = select(func.count()).select_from(_I).where(_needs_facts(reader_version))
        with self.engine.connect() as conn:
            return conn.execute(stmt).scalar_one()

    def claim_fact_reading(self, claimer: str, now: datetime, lease_until: datetime,
                           reader_version: int, limit: int) -> list[StoredImage]:
        """Lease up to ``limit`` stored images whose facts are missing or stale."""
        free = or_(_I.claimed_until.is_(None), _I.claimed_until < now)
        with self.engine.begin() as conn:
            ids = skip_locked(conn, select(_I.id).where(_needs_facts(reader_version), free).limit(limit))
            stmt = (update(_I).where(_I.id.in_(ids.scalar_subquery()))
                    .values(claimed_by=claimer, claimed_until=lease_until)
                    .returning(_I.sha256, _I.path))
            claimed = [StoredImage(sha, path) for sha, path in conn.execute(stmt)]
        return sorted(claimed, key=lambda image: image.sha256)

    def live_image_claimers(self, now: datetime) -> list[str]:
        """Curators whose image leases have not ended (the caller decides which are dead)."""
        stmt = select(_I.claimed_by).distinct().where(_I.claimed_by.is_not(None), _I.claimed_until >= now)
        with self.engine.connect() as conn:
            return [c for (c,) in conn.execute(stmt) if c is not None]

    def release_image_claims(self, claimer: str) -> int:
        """End every image lease of ``claimer`` (it stops, or is known to be gone)."""
        stmt = update(_I).where(_I.claimed_by == claimer).values(claimed_by=None, claimed_until=None)
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    def save_facts(self, updates: Sequence[FactsUpdate]) -> None:
        """Store facts with the columns stats and signatures group by; ends each image's lease."""
        if updates:
            with self.engine.begin() as conn:
                conn.execute(_SAVE_FACTS, [_facts_params(u) for u in updates])

    # ---- pixel facts ---------------------------------------------------------------------------

    def images_needing_pixels(self, pixel_version: int) -> list[PixelTask]:
        """Files the header stage passed that wait for the pixel stage, and files measured by an
        older version of its detectors."""
        v, r = VerdictRow, VerdictReasonRow
        waiting = (select(v.image_id).join(r, r.verdict_id == v.id)
                   .where(r.reason == Reason.PIXELS_UNCHECKED.value))
        stmt = (select(_I.sha256, _I.path, _I.facts_json)
                .where(or_(_I.id.in_(waiting),
                           and_(_I.pixel_json.is_not(None), _I.pixel_version != pixel_version)))
                .order_by(_I.sha256))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [PixelTask(sha, path, facts_from_json(stored_json(doc))) for sha, path, doc in rows]

    def save_pixels(self, updates: Sequence[PixelUpdate]) -> None:
        """Store pixel facts, their version and digest, and the perceptual hash measured with them."""
        if updates:
            with self.engine.begin() as conn:
                conn.execute(_SAVE_PIXELS, [
                    {"k_sha": u.sha256, "v_json": json.dumps(pixels_to_json(u.pixels), sort_keys=True),
                     "v_version": u.version, "v_hash": u.pixel_hash, "v_phash": u.pixels.phash or ""}
                    for u in updates])

    # ---- perceptual hashes (near-duplicate clusters of the export) ------------------------------

    def accepted_without_phash(self) -> list[StoredImage]:
        stmt = (select(_I.sha256, _I.path)
                .join(VerdictRow, VerdictRow.image_id == _I.id)
                .where(VerdictRow.accepted.is_(True), _I.phash.is_(None))
                .order_by(_I.sha256))
        with self.engine.connect() as conn:
            return [StoredImage(sha, path) for sha, path in conn.execute(stmt)]

    def save_phashes(self, hashes: Sequence[PerceptualHash]) -> None:
        """Store perceptual hashes; a file that cannot be hashed gets '' (tried, no hash)."""
        if hashes:
            with self.engine.begin() as conn:
                conn.execute(update(_I).where(_I.sha256 == bindparam("k_sha")).values(phash=bindparam("v")),
                             [{"k_sha": h.sha256, "v": h.phash or ""} for h in hashes])


def _needs_facts(reader_version: int) -> Any:
    return or_(_I.reader_version.is_(None), _I.reader_version != reader_version)


def _facts_params(u: FactsUpdate) -> dict[str, Any]:
    return {"k_sha": u.sha256, "v_json": json.dumps(facts_to_json(u.facts), sort_keys=True),
            "v_hash": u.facts_hash, "v_reader": u.reader_version, "v_phash": u.phash,
            "v_width": u.facts.width, "v_height": u.facts.height, "v_make": _cut(u.facts.make),
            "v_model": _cut(u.facts.model), "v_software": _cut(u.facts.software),
            "v_quality": u.facts.quality,
            "v_signature": u.facts.signature.id if u.facts.signature is not None else None}


def _cut(text: str | None, limit: int = 255) -> str | None:
    return text[:limit] if text is not None else None


_SAVE_FACTS = (
    update(_I)
    .where(_I.sha256 == bindparam("k_sha"))
    .values(facts_json=bindparam("v_json"), facts_hash=bindparam("v_hash"),
            reader_version=bindparam("v_reader"), phash=bindparam("v_phash"),
            width=bindparam("v_width"), height=bindparam("v_height"), make=bindparam("v_make"),
            model=bindparam("v_model"), software=bindparam("v_software"),
            quality=bindparam("v_quality"), signature=bindparam("v_signature"), claimed_by=None,
            claimed_until=None)
)

_SAVE_PIXELS = (
    update(_I)
    .where(_I.sha256 == bindparam("k_sha"))
    .values(pixel_json=bindparam("v_json"), pixel_version=bindparam("v_version"),
            pixel_hash=bindparam("v_hash"), phash=bindparam("v_phash"))
)
