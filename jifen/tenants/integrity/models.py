"""Integrity signals and the photo fingerprints the shared-photo detector compares.

`IntegritySignal` is one finding of a detector: what kind, where (village), about whom (a user, a
household), which records it links to (`records`: [{"type": "application", "id": …}, …]) and the
numbers that explain it (`numbers`). The text people read is made from kind and numbers at render
time (service.explain), so it is in the reader's language. The detector's `dedupe_key` is unique
per (tenant, kind): the nightly job re-finding a signal writes nothing (insert or nothing), and a
reviewed signal stays reviewed.

`PhotoHash` is one stored image's perceptual hash (imagehash.phash, 64 bits as 16 hex digits),
computed once by the job; `band0..3` are its four 16-bit quarters, indexed so that near-identical
pairs are found by an equality join (two hashes within 3 bits share at least one whole quarter).
A flat image (no detail: a lens cap, a blank page) gets no hash (`phash` NULL): every flat image
would look alike.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import JSON, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk

# kinds of signal, one per detector
SEPARATION, OUTLIER, BURST, PHOTO, DEVICE = "separation", "verifier_outlier", "burst", "shared_photo", "device"
KINDS = (SEPARATION, OUTLIER, BURST, PHOTO, DEVICE)
OPEN, REVIEWED = "open", "reviewed"
STATUSES = (OPEN, REVIEWED)


class IntegritySignal(TenantScoped, db.Model):
    __tablename__ = "integrity_signals"
    __table_args__ = (
        UniqueConstraint("tenant_id", "kind", "dedupe_key"),
        tenant_fk(["village_id"], "villages"),
        tenant_fk(["household_id"], "households"),
        Index("ix_integrity_signals_tenant_status", "tenant_id", "status", "detected_on"),
    )
    kind: Mapped[str] = mapped_column(String(32))
    village_id: Mapped[uuid.UUID | None]  # None: township-wide (a verifier working in several villages)
    subject_user_id: Mapped[uuid.UUID | None]  # the staff member the signal is about, if any
    subject_name: Mapped[str] = mapped_column(String(100), default="")
    household_id: Mapped[uuid.UUID | None]  # the household concerned, if one
    records: Mapped[list] = mapped_column(JSON, default=list)  # [{"type": "application", "id": "…"}, …]
    numbers: Mapped[dict] = mapped_column(JSON, default=dict)  # what explains it (see service.explain)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    detected_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    reviewed_by: Mapped[uuid.UUID | None]
    reviewed_by_name: Mapped[str] = mapped_column(String(100), default="")
    reviewed_at: Mapped[datetime | None]
    review_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class PhotoHash(TenantScoped, db.Model):
    __tablename__ = "integrity_photo_hashes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "file_id"),
        tenant_fk(["file_id"], "stored_files"),
        Index("ix_integrity_photo_hashes_band0", "tenant_id", "band0"),
        Index("ix_integrity_photo_hashes_band1", "tenant_id", "band1"),
        Index("ix_integrity_photo_hashes_band2", "tenant_id", "band2"),
        Index("ix_integrity_photo_hashes_band3", "tenant_id", "band3"),
    )
    file_id: Mapped[uuid.UUID]
    phash: Mapped[str | None] = mapped_column(String(16))  # None: flat or unreadable image
    band0: Mapped[str | None] = mapped_column(String(4))
    band1: Mapped[str | None] = mapped_column(String(4))
    band2: Mapped[str | None] = mapped_column(String(4))
    band3: Mapped[str | None] = mapped_column(String(4))
    hashed_at: Mapped[datetime] = mapped_column(default=clock.now)
