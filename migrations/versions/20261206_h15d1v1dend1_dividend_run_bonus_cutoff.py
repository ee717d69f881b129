"""dividend_runs: the largest-remainder cut-off found by the plan (issue 15)

Revision ID: h15d1v1dend1
Revises: h15r0st3rjb1
Create Date: 2026-12-06 21:45:00

Nullable columns without a default: PostgreSQL adds them without rewriting the table. A run still
computing when this lands has no cut-off: its chunks give nobody the extra fen, so its last step
finds the payouts short of the pool and fails it ("simulate again"), never a wrong amount.
"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = 'h15d1v1dend1'
down_revision = 'h15r0st3rjb1'
branch_labels = None
depends_on = None


def upgrade():
    # a plain ADD COLUMN (SQLite too): a batch copy of a table other tables point at breaks their keys
    op.add_column('dividend_runs', sa.Column('bonus_remainder', sa.Numeric(40, 0), nullable=True))
    op.add_column('dividend_runs', sa.Column('bonus_earned', sa.BigInteger(), nullable=True))
    op.add_column('dividend_runs', sa.Column('bonus_household_id', sa.Uuid(), nullable=True))


def downgrade():
    for column in ('bonus_household_id', 'bonus_earned', 'bonus_remainder'):
        op.drop_column('dividend_runs', column)
