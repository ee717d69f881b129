"""cockpit facts keyed by their grain: the day facts, household months and month facts lose their
surrogate id and their foreign key to tenants (a full build's per-row key check and random-id index
were most of its cost) and are keyed by what they count; "none" in a key is the zero uuid (NO_ID).
The facts are derived: the tables are made anew and every township's next build is a full one.

Revision ID: c13gra1n0001
Revises: c13s1gnalix1
Create Date: 2026-12-06

"""
import sqlalchemy as sa
from alembic import op

from jifen.platform.citus.distribute import create_tenant_table

# revision identifiers, used by Alembic.
revision = 'c13gra1n0001'
down_revision = 'c13s1gnalix1'
branch_labels = None
depends_on = None

MEASURES = ('issued', 'deducted', 'corrected', 'redeemed', 'expired', 'carried', 'entries')


def _measures():
    return [sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES]


def _drop_facts():
    for table in ('cockpit_day_facts', 'cockpit_household_months', 'cockpit_month_facts'):
        op.drop_table(table)  # its indexes go with it
    # the facts are gone: each township's next build counts the ledger from the start
    op.execute("UPDATE cockpit_facts_state SET counted_through = NULL, rescan_from = NULL")


def upgrade():
    _drop_facts()
    create_tenant_table('cockpit_day_facts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=False),
    sa.Column('grid_node_id', sa.Uuid(), nullable=False),
    sa.Column('item_id', sa.Uuid(), nullable=False),
    *_measures(),
    sa.PrimaryKeyConstraint('tenant_id', 'day', 'village_id', 'grid_node_id', 'item_id',
                            name=op.f('pk_cockpit_day_facts'))
    )
    create_tenant_table('cockpit_household_months',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=False),
    sa.Column('grid_node_id', sa.Uuid(), nullable=True),
    *_measures(),
    sa.PrimaryKeyConstraint('tenant_id', 'household_id', 'month', name=op.f('pk_cockpit_household_months'))
    )
    op.create_index('ix_cockpit_household_months_tenant_month_village', 'cockpit_household_months',
                    ['tenant_id', 'month', 'village_id'], unique=False)
    create_tenant_table('cockpit_month_facts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('scope_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=False),
    sa.Column('item_id', sa.Uuid(), nullable=False),
    sa.Column('scope_kind', sa.String(length=16), nullable=False),
    sa.Column('participants', sa.Integer(), nullable=False),
    *_measures(),
    sa.PrimaryKeyConstraint('tenant_id', 'scope_id', 'month', 'village_id', 'item_id',
                            name=op.f('pk_cockpit_month_facts'))
    )
    op.create_index('ix_cockpit_month_facts_tenant_month_village', 'cockpit_month_facts',
                    ['tenant_id', 'month', 'village_id'], unique=False)


def downgrade():
    _drop_facts()
    create_tenant_table('cockpit_day_facts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=False),
    sa.Column('grid_node_id', sa.Uuid(), nullable=True),
    sa.Column('item_id', sa.Uuid(), nullable=True),
    *_measures(),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_cockpit_day_facts_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_cockpit_day_facts'))
    )
    op.create_index('ix_cockpit_day_facts_tenant_day_village', 'cockpit_day_facts',
                    ['tenant_id', 'day', 'village_id'], unique=False)
    create_tenant_table('cockpit_household_months',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('household_id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=False),
    sa.Column('grid_node_id', sa.Uuid(), nullable=True),
    *_measures(),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_cockpit_household_months_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_cockpit_household_months')),
    sa.UniqueConstraint('tenant_id', 'household_id', 'month', name=op.f('uq_cockpit_household_months_tenant_id_household_id_month'))
    )
    op.create_index('ix_cockpit_household_months_tenant_month_village', 'cockpit_household_months',
                    ['tenant_id', 'month', 'village_id'], unique=False)
    create_tenant_table('cockpit_month_facts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('scope_kind', sa.String(length=16), nullable=False),
    sa.Column('scope_id', sa.Uuid(), nullable=False),
    sa.Column('village_id', sa.Uuid(), nullable=True),
    sa.Column('item_id', sa.Uuid(), nullable=True),
    sa.Column('participants', sa.Integer(), nullable=False),
    *_measures(),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_cockpit_month_facts_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_cockpit_month_facts'))
    )
    op.create_index('ix_cockpit_month_facts_tenant_month_kind', 'cockpit_month_facts',
                    ['tenant_id', 'month', 'scope_kind'], unique=False)
    op.create_index('ix_cockpit_month_facts_tenant_scope', 'cockpit_month_facts',
                    ['tenant_id', 'scope_id', 'month'], unique=False)
