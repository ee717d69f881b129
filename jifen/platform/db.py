"""Database objects shared by every capability: the declarative base, ids, timestamps, tenant keys.

Ids are time-ordered UUIDs (v7) made by the application: SQLite cannot autoincrement a composite
primary key, and tenant tables key on (tenant_id, id) so they can be distributed by tenant on Citus.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import (
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    TypeDecorator,
    Uuid,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    declared_attr,
    mapped_column,
    registry,
)
from uuid6 import uuid7

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid7().bytes)


def parse_uuid(value) -> uuid.UUID | None:
    """An id from a form, a query string or JSON; None when it is not one."""
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except (TypeError, ValueError):
        return None


class UTCDateTime(TypeDecorator):
    """Timestamps are stored and returned as aware UTC (SQLite would otherwise drop the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING),
        type_annotation_map={uuid.UUID: Uuid(), datetime: UTCDateTime()},
    )


# Objects stay readable after commit: a request or job commits and then renders what it wrote,
# and reloading an expired tenant row outside its tenant scope would (rightly) be refused.
db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})


@event.listens_for(Engine, "connect")
def _sqlite_foreign_keys(dbapi_connection, connection_record) -> None:
    """SQLite ignores foreign keys unless asked, per connection; the tenant keys rely on them."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


class TenantOwned:
    """Mixin for every tenant-owned table: `tenant_id` leads its primary key (a foreign key to
    `tenants`), so the schema can be distributed by it.

    The session guard in `tenancy` filters every ORM query of these models by the current tenant
    and stamps `tenant_id` on new rows, so code never writes the filter by hand.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(ForeignKey("tenants.id"), primary_key=True, sort_order=-20)


class TenantScoped(TenantOwned):
    """A tenant-owned table of records: primary key (tenant_id, id)."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id, sort_order=-10)


class TenantFacts(TenantOwned):
    """A tenant-owned table of derived figures, rewritten wholesale from the records by one job:
    keyed by its own columns after `tenant_id` (no surrogate id), and with no foreign key to
    `tenants`. A build writes millions of rows; the per-row key check and a random id's index
    were most of its cost (bench/README.md, "Cockpit facts"). The job writes in the township's
    scope and offboarding deletes the rows with the township's others."""

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(primary_key=True, sort_order=-20)


def tenant_fk(columns: list[str], target: str, **kw) -> ForeignKeyConstraint:
    """A foreign key from a tenant table to another, always through tenant_id.

    `tenant_fk(["user_id"], "users")` -> FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id).
    """
    return ForeignKeyConstraint(
        ["tenant_id", *columns], [f"{target}.tenant_id", f"{target}.id"], **kw
    )
