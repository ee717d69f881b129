"""stored files: a photo's thumbnail row, and the time a photo was staged for a refused form

Revision ID: h14st4ged001
Revises: c13gra1n0002
Create Date: 2026-12-06 18:25:55.536382

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

# revision identifiers, used by Alembic.
revision = 'h14st4ged001'
down_revision = 'c13gra1n0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('thumbnail_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('staged_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('stored_files', schema=None) as batch_op:
        batch_op.drop_column('staged_at')
        batch_op.drop_column('thumbnail_id')

