from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, deferred, mapped_column

from jifen.platform import clock, sealed
from jifen.platform.db import TenantScoped, db


class StoredFile(TenantScoped, db.Model):
    """One uploaded file. Kept in the database, not on a web node's disk: web nodes are stateless
    and scale out, and PostgreSQL is the one source of truth (photos are shrunk before storing)."""

    __tablename__ = "stored_files"
    kind: Mapped[str] = mapped_column(String(16))  # image | document | spreadsheet
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(default=clock.now)

    @property
    def content(self) -> bytes:
        """The file's bytes: spreadsheets (rosters hold ID numbers) are stored sealed (`SEALED_KINDS`);
        one stored before that (an .xlsx zip, "PK") is returned as it is."""
        if self.kind in SEALED_KINDS and not self.data.startswith(b"PK"):
            return sealed.unseal_bytes(self.data)
        return self.data


SEALED_KINDS = ("spreadsheet",)  # encrypted at rest with JIFEN_ID_KEYS (platform/sealed.py)
