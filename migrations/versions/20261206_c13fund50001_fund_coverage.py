"""fund coverage (issue 13): fund_settings (point value, warning threshold), fund_records
(append-only funding; a reversal points at its original, at most one), fund_coverage (the nightly
snapshot per scope: the township, village_id NULL, and each village with a store).

New tables only: nothing on an existing table is locked or rewritten.

Revision ID: c13fund50001
Revises: c13facts0ix1
Create Date: 2026-12-06 13:22:16.570741

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)
from jifen.platform.citus.distribute import create_tenant_table

# revision identifiers, used by Alembic.
revision = 'c13fund50001'
down_revision = 'c13facts0ix1'
branch_labels = None
depends_on = None


def upgrade():
    create_tenant_table('fund_settings',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('point_value_fen', sa.Integer(), nullable=True),
    sa.Column('coverage_warn_pct', sa.Integer(), nullable=False),
    sa.Column('updated_by_name', sa.String(length=100), nullable=False),
    sa.Column('updated_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint('coverage_warn_pct BETWEEN 1 AND 1000', name=op.f('ck_fund_settings_warn_pct_range')),
    sa.CheckConstraint('point_value_fen IS NULL OR point_value_fen > 0', name=op.f('ck_fund_settings_point_value_positive')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_fund_settings_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_fund_settings')),
    sa.UniqueConstraint('tenant_id', name=op.f('uq_fund_settings_tenant_id'))
    )
    create_tenant_table('fund_coverage',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('taken_on', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=True),
    sa.Column('point_value_fen', sa.Integer(), nullable=True),
    sa.Column('point_value_derived', sa.Boolean(), nullable=False),
    sa.Column('available_points', sa.Integer(), nullable=False),
    sa.Column('reserved_points', sa.Integer(), nullable=False),
    sa.Column('liability_fen', sa.Integer(), nullable=True),
    sa.Column('received_fen', sa.Integer(), nullable=False),
    sa.Column('spent_fen', sa.Integer(), nullable=False),
    sa.Column('stock_cost_fen', sa.Integer(), nullable=False),
    sa.Column('redeemed_points', sa.Integer(), nullable=False),
    sa.Column('monthly_redemption_fen', sa.Integer(), nullable=True),
    sa.Column('warn_pct', sa.Integer(), nullable=False),
    sa.Column('below', sa.Boolean(), nullable=False),
    sa.Column('crossed', sa.Boolean(), nullable=False),
    sa.Column('created_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id', 'village_id'], ['villages.tenant_id', 'villages.id'], name=op.f('fk_fund_coverage_tenant_id_village_id_villages')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_fund_coverage_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_fund_coverage'))
    )
    with op.batch_alter_table('fund_coverage', schema=None) as batch_op:
        batch_op.create_index('ix_fund_coverage_tenant_village', ['tenant_id', 'village_id', 'taken_on'], unique=False)
        batch_op.create_index('uq_fund_coverage_township_day', ['tenant_id', 'taken_on'], unique=True, sqlite_where=sa.text('village_id IS NULL'), postgresql_where=sa.text('village_id IS NULL'))
        batch_op.create_index('uq_fund_coverage_village_day', ['tenant_id', 'taken_on', 'village_id'], unique=True, sqlite_where=sa.text('village_id IS NOT NULL'), postgresql_where=sa.text('village_id IS NOT NULL'))

    create_tenant_table('fund_records',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('received_on', sa.Date(), nullable=False),
    sa.Column('store_id', sa.Uuid(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('reverses_id', sa.Uuid(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Uuid(), nullable=True),
    sa.Column('created_by_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('budget', 'donation', 'collective_income')", name=op.f('ck_fund_records_kind')),
    sa.CheckConstraint('(reverses_id IS NULL AND amount_fen > 0) OR (reverses_id IS NOT NULL AND amount_fen < 0)', name=op.f('ck_fund_records_amount_sign')),
    sa.ForeignKeyConstraint(['tenant_id', 'reverses_id'], ['fund_records.tenant_id', 'fund_records.id'], name=op.f('fk_fund_records_tenant_id_reverses_id_fund_records')),
    sa.ForeignKeyConstraint(['tenant_id', 'store_id'], ['stores.tenant_id', 'stores.id'], name=op.f('fk_fund_records_tenant_id_store_id_stores')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_fund_records_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_fund_records'))
    )
    with op.batch_alter_table('fund_records', schema=None) as batch_op:
        batch_op.create_index('ix_fund_records_tenant_received', ['tenant_id', 'received_on'], unique=False)
        batch_op.create_index('uq_fund_records_reverses', ['tenant_id', 'reverses_id'], unique=True, sqlite_where=sa.text('reverses_id IS NOT NULL'), postgresql_where=sa.text('reverses_id IS NOT NULL'))



def downgrade():
    with op.batch_alter_table('fund_records', schema=None) as batch_op:
        batch_op.drop_index('uq_fund_records_reverses', sqlite_where=sa.text('reverses_id IS NOT NULL'), postgresql_where=sa.text('reverses_id IS NOT NULL'))
        batch_op.drop_index('ix_fund_records_tenant_received')

    op.drop_table('fund_records')
    with op.batch_alter_table('fund_coverage', schema=None) as batch_op:
        batch_op.drop_index('uq_fund_coverage_village_day', sqlite_where=sa.text('village_id IS NOT NULL'), postgresql_where=sa.text('village_id IS NOT NULL'))
        batch_op.drop_index('uq_fund_coverage_township_day', sqlite_where=sa.text('village_id IS NULL'), postgresql_where=sa.text('village_id IS NULL'))
        batch_op.drop_index('ix_fund_coverage_tenant_village')

    op.drop_table('fund_coverage')
    op.drop_table('fund_settings')
