"""Verdicts: which stored files are in the dataset, why the others are not, and what is stale.

``Verdicts`` is the part of ``db.catalog.Catalog`` that owns the verdicts and verdict_reasons
tables and the status and reasons they copy onto each candidate (so ``camid stats`` counts them
from one index). Verdicts replace rows, so their writes take the catalog's write lock
(``one_writer_at_a_time``): two curators judging at once leave one verdict per file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection, Engine, bindparam, delete, insert, or_, select, update

from db.connection import one_writer_at_a_time
from db.models import CandidateRow, ImageRow, VerdictReasonRow, VerdictRow
from db.sqlkit import chunks, image_ids, stored_json
from pipeline.facts_codec import facts_from_json, pixels_from_json
from pipeline.records import CandidateStatus, Judgement, Reason, StoredFacts, Verdict
from pipeline.signature_book import EMPTY_BOOK


class Verdicts:
    """Judging: what needs a (new) verdict, and recording verdicts."""

    engine: Engine

    def images_to_judge(self, policy_hash: str, registry_hash: str,
                        signatures_hash: str = EMPTY_BOOK.hash) -> list[StoredFacts]:
        """Facts and pixel facts of images whose verdict is missing or out of date.

        A verdict is out of date when the facts, the pixel facts, the policy, the registry or the
        learned signatures it was computed from changed; everything else keeps its verdict
        (re-running curate is cheap).
        """
        v, i = VerdictRow, ImageRow
        stmt = (select(i.sha256, i.facts_json, i.facts_hash, i.pixel_json, i.pixel_hash)
                .outerjoin(v, v.image_id == i.id)
                .where(i.facts_json.is_not(None))
                .where(or_(v.id.is_(None), v.policy_hash != policy_hash, v.registry_hash != registry_hash,
                           v.facts_hash.is_(None), v.facts_hash != i.facts_hash,
                           v.signatures_hash.is_(None), v.signatures_hash != signatures_hash,
                           v.pixel_hash.is_distinct_from(i.pixel_hash)))
                .order_by(i.sha256))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [StoredFacts(sha, facts_from_json(stored_json(doc)), fh,
                            pixels_from_json(json.loads(pixel_doc)) if pixel_doc else None, pixel_hash)
                for sha, doc, fh, pixel_doc, pixel_hash in rows]

    def record_verdict(self, sha256: str, verdict: Verdict, facts_hash: str | None = None) -> None:
        """Replace the image's verdict and move its candidates to accepted or rejected."""
        self.record_verdicts([Judgement(sha256, verdict, facts_hash)])

    def record_verdicts(self, judgements: Sequence[Judgement]) -> None:
        """Batch form of ``record_verdict``: one transaction; each reason keeps its detail."""
        with self.engine.begin() as conn:
            one_writer_at_a_time(conn, "verdicts")
            ids = image_ids(conn, [j.sha256 for j in judgements])
            missing = [j.sha256 for j in judgements if j.sha256 not in ids]
            if missing:
                raise KeyError(f"no stored image with sha256 {missing[0]}")
            _replace_verdicts(conn, ids, judgements)
            conn.execute(_SET_VERDICT_STATUS, [
                {"k_image": ids[j.sha256], "v_status": _status_of(j.verdict).value,
                 "v_reasons": ",".join(sorted({r.value for r in j.verdict.reasons})) or None}
                for j in judgements])


def _replace_verdicts(conn: Connection, ids: dict[str, int], judgements: Sequence[Judgement]) -> None:
    """Delete the images' old verdicts, insert the new ones with one row per reason."""
    for chunk in chunks(list(ids.values())):
        conn.execute(delete(VerdictRow).where(VerdictRow.image_id.in_(chunk)))
    rows = [_verdict_row(ids[j.sha256], j) for j in judgements]
    inserted = conn.execute(insert(VerdictRow).returning(VerdictRow.id, VerdictRow.image_id), rows).all()
    verdict_ids = {image_id: vid for vid, image_id in inserted}
    reasons = [{"verdict_id": verdict_ids[ids[j.sha256]], "reason": r.value,
                "detail": j.verdict.detail(r)} for j in judgements for r in j.verdict.reasons]
    if reasons:
        conn.execute(insert(VerdictReasonRow), reasons)


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
