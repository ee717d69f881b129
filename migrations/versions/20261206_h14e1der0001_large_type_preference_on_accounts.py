"""accounts: large_type, the account's own choice of large type (issue 14, elder-friendly pages)

Revision ID: h14e1der0001
Revises: 5f1c0de14a7f
Create Date: 2026-12-06 19:09:43.765305

A constant default: PostgreSQL adds the column without rewriting the table.
"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = 'h14e1der0001'
down_revision = '5f1c0de14a7f'
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN (SQLite too): a batch copy of a table other tables point at breaks their keys
    for table in ('operators', 'users'):
        op.add_column(table, sa.Column('large_type', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade():
    for table in ('users', 'operators'):
        op.drop_column(table, 'large_type')
