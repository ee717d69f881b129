"""job runs: when a failed run is tried again (backoff), and when its problem was told to the admins

Revision ID: c12j0bruns01
Revises: b11a0aud1t02
Create Date: 2026-12-06 09:40:00

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = 'c12j0bruns01'
down_revision = 'b11a0aud1t02'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('alerted_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('job_runs', schema=None) as batch_op:
        batch_op.drop_column('alerted_at')
        batch_op.drop_column('next_attempt_at')
