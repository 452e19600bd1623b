"""The catalog's tables (SQLAlchemy 2.0 typed ORM models).

Schema changes never happen here alone: each one gets an Alembic migration in
``db/migrations/versions`` (a test compares the migrated schema with these models), so a user's
catalog survives upgrades. Rows never leave ``db/``: the catalog turns them into
``pipeline.records`` dataclasses at its boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CandidateRow(Base):
    """A URL a scraper found, with its download state (the per-URL retry bookkeeping)."""

    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("source", "source_id"),
        Index("ix_candidates_stats", "camera", "source", "status"),
        Index("ix_candidates_reasons", "status", "camera", "source", "reasons"),
        Index("ix_candidates_queue", "status", "next_attempt_at"),
        # covers `camid stats`' failures by code, will-retry apart from gave-up
        Index("ix_candidates_failures", "status", "camera", "source", "error_code", "next_attempt_at"),
        Index("ix_candidates_image_id", "image_id"),
        Index("ix_candidates_licence", "licence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(255))
    camera: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    licence: Mapped[str | None] = mapped_column(String(128))
    author: Mapped[str | None] = mapped_column(Text)
    expected_sha1: Mapped[str | None] = mapped_column(String(40))
    expected_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    # the image's current rejection reasons, comma-joined: a copy of verdict_reasons kept on the
    # candidate so `camid stats` counts reasons per camera and source from one covering index
    # (a skipped candidate keeps its skip reason code here instead: see db/download_queue.py)
    reasons: Mapped[str | None] = mapped_column(String(512))
    # the downloader's lease (db/download_queue.py): who claimed the row and until when, so a crashed
    # claimer's rows come back when the lease ends (or at once, when its process is gone)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the last failure's code (pipeline.records.FailureReason) and how many attempts in a row
    # ended with it, for caps per reason and `camid download --retry-failed --reason CODE`
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_streak: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)


class ImageRow(Base):
    """A stored file, once per content (two sources finding one image share this row)."""

    __tablename__ = "images"
    __table_args__ = (
        Index("ix_images_quality", "quality"),
        Index("ix_images_size", "width", "height"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    make: Mapped[str | None] = mapped_column(String(255))
    model: Mapped[str | None] = mapped_column(String(255))
    software: Mapped[str | None] = mapped_column(String(255))
    quality: Mapped[int | None] = mapped_column(Integer)
    facts_json: Mapped[str | None] = mapped_column(Text)
    facts_hash: Mapped[str | None] = mapped_column(String(64))
    reader_version: Mapped[int | None] = mapped_column(Integer)
    phash: Mapped[str | None] = mapped_column(String(16))
    # the encoder signature's id (pipeline.signature), counted per camera to learn its signatures
    signature: Mapped[str | None] = mapped_column(String(64), index=True)
    # what the pixel stage measured (pipeline.pixels), the detectors' version and a digest of it
    pixel_json: Mapped[str | None] = mapped_column(Text)
    pixel_version: Mapped[int | None] = mapped_column(Integer)
    pixel_hash: Mapped[str | None] = mapped_column(String(64))
    # a curator's lease on reading this file's facts (db/curation_store.py), like the candidates' one
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VerdictRow(Base):
    """The current verdict on an image, with the policy and registry that produced it."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), unique=True)
    accepted: Mapped[bool] = mapped_column(Boolean)
    label: Mapped[str | None] = mapped_column(String(64))
    policy_hash: Mapped[str] = mapped_column(String(64))
    registry_hash: Mapped[str] = mapped_column(String(64))
    facts_hash: Mapped[str | None] = mapped_column(String(64))
    # the other inputs a verdict depends on: the learned signatures and the pixel facts
    signatures_hash: Mapped[str | None] = mapped_column(String(64))
    pixel_hash: Mapped[str | None] = mapped_column(String(64))
    flags: Mapped[str | None] = mapped_column(String(128))  # comma-joined (resaved)
    judged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VerdictReasonRow(Base):
    """One failing reason of a verdict: a row each, so stats can count them in SQL."""

    __tablename__ = "verdict_reasons"
    __table_args__ = (Index("ix_verdict_reasons_reason", "reason"),)

    verdict_id: Mapped[int] = mapped_column(ForeignKey("verdicts.id", ondelete="CASCADE"),
                                            primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    detail: Mapped[str | None] = mapped_column(Text)  # the measured value that failed, in words


class ExportRow(Base):
    """A dataset manifest written by ``camid export``."""

    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    path: Mapped[str] = mapped_column(Text)
    rows_sha256: Mapped[str] = mapped_column(String(64))
    registry_hash: Mapped[str] = mapped_column(String(64))
    policy_hash: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int] = mapped_column(Integer)
    counts_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ScrapeRunRow(Base):
    """One ``camid scrape`` run: the API calls it spent and what it found.

    Kept per run (not a single counter) so ``camid stats`` can report API calls per accepted image
    and the Flickr budget can count the calls of runs in the last hour.
    """

    __tablename__ = "scrape_runs"
    __table_args__ = (Index("ix_scrape_runs_source", "source", "updated_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    found: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiCallRow(Base):
    """API calls a scrape run spent, stamped when the run saved them (a batch at a time).

    The hourly budget counts these in a sliding window: real call times, not the runs' totals.
    Rows older than the window are pruned as new ones are written.
    """

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_source_at", "source", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    calls: Mapped[int] = mapped_column(Integer)


class HostPauseRow(Base):
    """A host that asked every client to wait (429/503 Retry-After) until ``until``.

    ``port`` is 0 when the URL had none. Downloaders read these on start, so a restarted one
    defers that host's URLs at once instead of asking it again.
    """

    __tablename__ = "host_pauses"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    port: Mapped[int] = mapped_column(Integer, primary_key=True)
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
