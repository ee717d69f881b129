"""store_orders: a phone order's pickup code (4 digits shown to the villager, checked at the counter)

Nullable: orders placed before it, and counter orders (handed over at once), have none. Its unique
index over the store's waiting orders is built concurrently in the next revision (5f1c0de14a7f).

Revision ID: 5f1c0de14a7e
Revises: h14st4gedix1
Create Date: 2026-12-06 19:10:02.890713

"""
import sqlalchemy as sa
from alembic import op

revision = '5f1c0de14a7e'
down_revision = 'h14st4gedix1'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('store_orders', sa.Column('pickup_code', sa.String(length=4), nullable=True))


def downgrade():
    with op.batch_alter_table('store_orders', schema=None) as batch_op:
        batch_op.drop_column('pickup_code')
