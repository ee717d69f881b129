"""integrity signals: the signals table, photo fingerprints, and the device of a self check-in

`integrity_signals` holds what the nightly detectors find (unique per tenant, kind and dedupe
key: a rerun adds nothing); `integrity_photo_hashes` one perceptual hash per stored photo, with
its four 16-bit quarters indexed for the near-duplicate join. `activity_attendance.device_hash`
(nullable, no default: metadata-only on PostgreSQL) is the SHA-256 of the check-in page's device
cookie; its partial index is built CONCURRENTLY by the next revision, c13s1gnalix1 (attendance is
an existing, written-to table).

Revision ID: c13s1gnals01
Revises: c13fund50001 (rebased onto main's head when main was merged in; written after c12f1lest0r1)
Create Date: 2026-12-06 13:22:30

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)
from jifen.platform.citus.distribute import create_tenant_table

revision = 'c13s1gnals01'
down_revision = 'c13fund50001'
branch_labels = None
depends_on = None


def upgrade():
    create_tenant_table(
        'integrity_photo_hashes',
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('file_id', sa.Uuid(), nullable=False),
        sa.Column('phash', sa.String(length=16), nullable=True),
        sa.Column('band0', sa.String(length=4), nullable=True),
        sa.Column('band1', sa.String(length=4), nullable=True),
        sa.Column('band2', sa.String(length=4), nullable=True),
        sa.Column('band3', sa.String(length=4), nullable=True),
        sa.Column('hashed_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'file_id'], ['stored_files.tenant_id', 'stored_files.id'],
                                name=op.f('fk_integrity_photo_hashes_tenant_id_file_id_stored_files')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_integrity_photo_hashes_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_integrity_photo_hashes')),
        sa.UniqueConstraint('tenant_id', 'file_id', name=op.f('uq_integrity_photo_hashes_tenant_id_file_id')),
    )
    for band in range(4):
        op.create_index(f'ix_integrity_photo_hashes_band{band}', 'integrity_photo_hashes', ['tenant_id', f'band{band}'])

    create_tenant_table(
        'integrity_signals',
        sa.Column('tenant_id', sa.Uuid(), nullable=False),
        sa.Column('id', sa.Uuid(), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('village_id', sa.Uuid(), nullable=True),
        sa.Column('subject_user_id', sa.Uuid(), nullable=True),
        sa.Column('subject_name', sa.String(length=100), nullable=False),
        sa.Column('household_id', sa.Uuid(), nullable=True),
        sa.Column('records', sa.JSON(), nullable=False),
        sa.Column('numbers', sa.JSON(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=False),
        sa.Column('detected_on', sa.Date(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reviewed_by', sa.Uuid(), nullable=True),
        sa.Column('reviewed_by_name', sa.String(length=100), nullable=False),
        sa.Column('reviewed_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column('review_reason', sa.Text(), nullable=False),
        sa.Column('created_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['tenant_id', 'household_id'], ['households.tenant_id', 'households.id'],
                                name=op.f('fk_integrity_signals_tenant_id_household_id_households')),
        sa.ForeignKeyConstraint(['tenant_id', 'village_id'], ['villages.tenant_id', 'villages.id'],
                                name=op.f('fk_integrity_signals_tenant_id_village_id_villages')),
        sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_integrity_signals_tenant_id_tenants')),
        sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_integrity_signals')),
        sa.UniqueConstraint('tenant_id', 'kind', 'dedupe_key', name=op.f('uq_integrity_signals_tenant_id_kind_dedupe_key')),
    )
    op.create_index('ix_integrity_signals_tenant_status', 'integrity_signals', ['tenant_id', 'status', 'detected_on'])

    with op.batch_alter_table('activity_attendance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('device_hash', sa.String(length=64), nullable=True))
    # its index is built by the next revision, c13s1gnalix1, on its own


def downgrade():
    with op.batch_alter_table('activity_attendance', schema=None) as batch_op:
        batch_op.drop_column('device_hash')
    op.drop_index('ix_integrity_signals_tenant_status', 'integrity_signals')
    op.drop_table('integrity_signals')
    for band in range(4):
        op.drop_index(f'ix_integrity_photo_hashes_band{band}', 'integrity_photo_hashes')
    op.drop_table('integrity_photo_hashes')
