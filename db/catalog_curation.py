"""The catalog's curation methods: facts, pixel facts, verdicts, signatures and exports.

A mixin of ``db.catalog.Catalog``, kept apart so each module stays small; the queries live in
``db.curation_queries``. Verdicts replace rows, so their writes take the catalog's write lock
(``one_writer_at_a_time``): two curators judging at once leave one verdict per file.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, bindparam, delete, update

from db import curation_queries as curation
from db.connection import one_writer_at_a_time
from db.models import CandidateRow, ExportRow, VerdictReasonRow, VerdictRow
from pipeline.evidence import EncoderSignature, SignatureCount
from pipeline.records import (
    CandidateStatus,
    ExportItem,
    ExportSummary,
    FactsUpdate,
    Judgement,
    PerceptualHash,
    PixelTask,
    PixelUpdate,
    Reason,
    StoredFacts,
    StoredImage,
    Verdict,
)
from pipeline.signature_book import EMPTY_BOOK


class CurationMethods:
    """Facts, verdicts and exports; ``engine`` is the catalog's."""

    engine: Engine

    def count_images_needing_facts(self, reader_version: int) -> int:
        with self.engine.connect() as conn:
            return curation.count_images_needing_facts(conn, reader_version)

    def save_facts(self, updates: Sequence[FactsUpdate]) -> None:
        if updates:
            with self.engine.begin() as conn:
                curation.save_facts(conn, updates)

    def images_to_judge(self, policy_hash: str, registry_hash: str,
                        signatures_hash: str = EMPTY_BOOK.hash) -> list[StoredFacts]:
        with self.engine.connect() as conn:
            return curation.images_to_judge(conn, policy_hash, registry_hash, signatures_hash)

    def images_needing_pixels(self, pixel_version: int) -> list[PixelTask]:
        with self.engine.connect() as conn:
            return curation.images_needing_pixels(conn, pixel_version)

    def save_pixels(self, updates: Sequence[PixelUpdate]) -> None:
        if updates:
            with self.engine.begin() as conn:
                curation.save_pixels(conn, updates)

    def signature_counts(self) -> list[SignatureCount]:
        with self.engine.connect() as conn:
            return curation.signature_counts(conn)

    def signature_examples(self, ids: Sequence[str]) -> dict[str, EncoderSignature]:
        with self.engine.connect() as conn:
            return curation.signature_examples(conn, ids)

    def accepted_without_phash(self) -> list[StoredImage]:
        with self.engine.connect() as conn:
            return curation.accepted_without_phash(conn)

    def save_phashes(self, hashes: Sequence[PerceptualHash]) -> None:
        if hashes:
            with self.engine.begin() as conn:
                curation.save_phashes(conn, hashes)

    def accepted_verdict_hashes(self) -> set[tuple[str, str]]:
        with self.engine.connect() as conn:
            return curation.accepted_verdict_hashes(conn)

    def accepted_items(self) -> list[ExportItem]:
        with self.engine.connect() as conn:
            return curation.accepted_items(conn)

    def record_verdict(self, sha256: str, verdict: Verdict, facts_hash: str | None = None) -> None:
        """Replace the image's verdict and move its candidates to accepted or rejected."""
        self.record_verdicts([Judgement(sha256, verdict, facts_hash)])

    def record_verdicts(self, judgements: Sequence[Judgement]) -> None:
        """Batch form of ``record_verdict``: one transaction; each reason keeps its detail."""
        with self.engine.begin() as conn:
            one_writer_at_a_time(conn, "verdicts")
            ids = curation.image_ids(conn, [j.sha256 for j in judgements])
            missing = [j.sha256 for j in judgements if j.sha256 not in ids]
            if missing:
                raise KeyError(f"no stored image with sha256 {missing[0]}")
            for chunk in curation.chunks(list(ids.values())):
                conn.execute(delete(VerdictRow).where(VerdictRow.image_id.in_(chunk)))
            rows = [_verdict_row(ids[j.sha256], j) for j in judgements]
            inserted = conn.execute(VerdictRow.__table__.insert().returning(
                VerdictRow.id, VerdictRow.image_id), rows).all()
            verdict_ids = {image_id: vid for vid, image_id in inserted}
            reasons = [{"verdict_id": verdict_ids[ids[j.sha256]], "reason": r.value,
                        "detail": j.verdict.detail(r)} for j in judgements for r in j.verdict.reasons]
            if reasons:
                conn.execute(VerdictReasonRow.__table__.insert(), reasons)
            conn.execute(_SET_VERDICT_STATUS, [
                {"k_image": ids[j.sha256], "v_status": _status_of(j.verdict).value,
                 "v_reasons": ",".join(sorted({r.value for r in j.verdict.reasons})) or None}
                for j in judgements])

    def record_export(self, name: str, path: str, manifest: ExportSummary) -> None:
        """Remember an export (replacing an older one of the same name)."""
        with self.engine.begin() as conn:
            one_writer_at_a_time(conn, "exports")
            conn.execute(delete(ExportRow).where(ExportRow.name == name))
            conn.execute(ExportRow.__table__.insert(), {
                "name": name, "path": path, "rows_sha256": manifest.rows_sha256,
                "registry_hash": manifest.registry_hash, "policy_hash": manifest.policy_hash,
                "seed": manifest.seed, "counts_json": manifest.counts_json})


def _verdict_row(image_id: int, judgement: Judgement) -> dict[str, object]:
    v = judgement.verdict
    return {"image_id": image_id, "accepted": v.accepted, "label": v.label, "policy_hash": v.policy_hash,
            "registry_hash": v.registry_hash, "facts_hash": judgement.facts_hash,
            "signatures_hash": judgement.signatures_hash, "pixel_hash": judgement.pixel_hash,
            "flags": ",".join(v.flags) or None}


def _status_of(verdict: Verdict) -> CandidateStatus:
    """Accepted or rejected; a file waiting only for its pixel check stays downloaded."""
    if verdict.accepted:
        return CandidateStatus.ACCEPTED
    if verdict.reasons == (Reason.PIXELS_UNCHECKED,):
        return CandidateStatus.DOWNLOADED
    return CandidateStatus.REJECTED


_SET_VERDICT_STATUS = (
    update(CandidateRow)
    .where(CandidateRow.image_id == bindparam("k_image"))
    .values(status=bindparam("v_status"), reasons=bindparam("v_reasons"))
)
