"""day facts keyed village first: (tenant_id, village_id, day, grid node, item), so that the build
after a late correction reads one village's month as one range of the key (day first, it read every
village's month: 1.2 s at 1,000,000 households, bench/README.md). The facts are derived: the table
is made anew and every township's next build is a full one.

Revision ID: c13gra1n0002
Revises: c13l1nks0001
Create Date: 2026-12-06

"""
import sqlalchemy as sa
from alembic import op

from jifen.platform.citus.distribute import create_tenant_table

# revision identifiers, used by Alembic.
revision = 'c13gra1n0002'
down_revision = 'c13l1nks0001'
branch_labels = None
depends_on = None

MEASURES = ('issued', 'deducted', 'corrected', 'redeemed', 'expired', 'carried', 'entries')


def _day_facts(key):
    op.drop_table('cockpit_day_facts')
    create_tenant_table('cockpit_day_facts',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    *[sa.Column(c, sa.Date() if c == 'day' else sa.Uuid(), nullable=False) for c in key[1:]],
    *[sa.Column(m, sa.Integer(), nullable=False) for m in MEASURES],
    sa.PrimaryKeyConstraint(*key, name=op.f('pk_cockpit_day_facts'))
    )
    # the day facts are gone: each township's next build counts the ledger from the start
    op.execute("UPDATE cockpit_facts_state SET counted_through = NULL, rescan_from = NULL")


def upgrade():
    _day_facts(('tenant_id', 'village_id', 'day', 'grid_node_id', 'item_id'))


def downgrade():
    _day_facts(('tenant_id', 'day', 'village_id', 'grid_node_id', 'item_id'))
