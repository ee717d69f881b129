"""offboarding: tenants.delete_after, county_records, and audit entries deletable with their chain on PostgreSQL

A township being offboarded is deleted after a grace period, its audit chain with it; what the
county must keep goes to county_records (no foreign key to the township). The PostgreSQL trigger
now refuses DELETE only while the tenant's chain head exists, as SQLite's always did: the
offboarding deletes the head first, then the entries. UPDATE stays refused everywhere.

Revision ID: c12offb0ard1
Revises: c12a0privix1
Create Date: 2026-12-06 09:40:00

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)
from jifen.platform.citus.distribute import create_platform_table

revision = 'c12offb0ard1'
down_revision = 'c12a0privix1'
branch_labels = None
depends_on = None

REFUSED = "audit_entries is append-only"


def upgrade():
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(sa.Column("delete_after", jifen.platform.db.UTCDateTime(timezone=True), nullable=True))
    create_platform_table(
        "county_records",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("county_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_slug", sa.String(length=40), nullable=False),
        sa.Column("tenant_name", sa.String(length=100), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["county_id"], ["counties.id"], name=op.f("fk_county_records_county_id_counties")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_county_records")),
    )
    op.create_index(op.f("ix_county_records_county_id"), "county_records", ["county_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'DELETE' AND NOT EXISTS (
                        SELECT 1 FROM audit_heads WHERE audit_heads.tenant_id = OLD.tenant_id) THEN
                    RETURN OLD;
                END IF;
                RAISE EXCEPTION '{REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
            END $$""")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE OR REPLACE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
            END $$""")
    op.drop_index(op.f("ix_county_records_county_id"), table_name="county_records")
    op.drop_table("county_records")
    # a plain column: SQLite (3.35+) drops it in place; a batch copy of `tenants` would have to drop
    # the table every township row points at, which its foreign keys refuse once there is data
    op.drop_column("tenants", "delete_after")
