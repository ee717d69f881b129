from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, deferred, mapped_column

from jifen.platform import clock, sealed
from jifen.platform.db import TenantScoped, db


class StoredFile(TenantScoped, db.Model):
    """One uploaded file. Its bytes are in `data` (the embedded default) or in an S3-compatible
    bucket under `storage_key` (JIFEN_FILE_STORE=s3, see storage.py), never on a web node's disk:
    web nodes are stateless and scale out (photos are shrunk before storing). Exactly one of the
    two is set; reading follows the row, whatever the setting is now."""

    __tablename__ = "stored_files"
    __table_args__ = (Index("ix_stored_files_staged", "tenant_id", "staged_at", postgresql_where=text("staged_at IS NOT NULL"),
                            sqlite_where=text("staged_at IS NOT NULL")),)
    kind: Mapped[str] = mapped_column(String(16))  # image | document | spreadsheet
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # a photo's small copy (THUMB_EDGE px), its own row so it is stored, moved and swept like any file
    thumbnail_id: Mapped[uuid.UUID | None]
    # set while a photo waits for its form (uploaded with a form that was refused); cleared when it is
    # attached; a staged file left longer than STAGED_AGE is deleted by the township's daily file sweep
    staged_at: Mapped[datetime | None]

    @property
    def content(self) -> bytes:
        """The file's bytes: spreadsheets (rosters hold ID numbers) are stored sealed (`SEALED_KINDS`);
        one stored before that (an .xlsx zip, "PK") is returned as it is. Read from the bucket when
        the row has a `storage_key` (`Unavailable` if it can't be reached)."""
        if self.storage_key is not None:
            from jifen.platform.files import storage

            raw = storage.get(self.storage_key)
        else:
            raw = self.data
        if self.kind in SEALED_KINDS and not raw.startswith(b"PK"):
            return sealed.unseal_bytes(raw)
        return raw


SEALED_KINDS = ("spreadsheet",)  # encrypted at rest with JIFEN_ID_KEYS (platform/sealed.py)
