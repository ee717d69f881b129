"""store_orders: one waiting order per pickup code and store (the counter finds the order by it)

Built CONCURRENTLY (store_orders is large and written to), in a revision of its own
(jifen/platform/concurrent_index.py).

Revision ID: 5f1c0de14a7f
Revises: 5f1c0de14a7e
Create Date: 2026-12-06 19:12:00

"""
from jifen.platform import concurrent_index

revision = '5f1c0de14a7f'
down_revision = '5f1c0de14a7e'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('uq_store_orders_open_pickup', 'store_orders', ['tenant_id', 'store_id', 'pickup_code'],
                           unique=True, where="state = 'open'")


def downgrade():
    concurrent_index.drop('uq_store_orders_open_pickup', 'store_orders')
