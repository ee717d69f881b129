from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from jifen.platform import clock
from jifen.platform.db import TenantScoped, db, tenant_fk


class RoleAssignment(TenantScoped, db.Model):
    """A user holds a role in the township; scoped roles list their scope objects in RoleScope."""

    __tablename__ = "role_assignments"
    __table_args__ = (UniqueConstraint("tenant_id", "user_id", "role"), tenant_fk(["user_id"], "users"))
    user_id: Mapped[uuid.UUID] = mapped_column(index=True)
    role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class RoleScope(TenantScoped, db.Model):
    """One object (village, grid node, store, household) a role assignment reaches.

    `scope_id` names a row of the table registered for `scope_kind`; the service checks that it
    exists in this tenant when the scope is granted.
    """

    __tablename__ = "role_scopes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "assignment_id", "scope_kind", "scope_id"),
        tenant_fk(["assignment_id"], "role_assignments", ondelete="CASCADE"),
        Index("ix_role_scopes_tenant_object", "tenant_id", "scope_kind", "scope_id"),  # who holds a role on X
    )
    assignment_id: Mapped[uuid.UUID] = mapped_column(index=True)
    scope_kind: Mapped[str] = mapped_column(String(32))
    scope_id: Mapped[uuid.UUID]
