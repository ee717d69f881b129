"""roster_imports: the confirm step runs as a job (issue 15): its rows staged (sealed) at upload, progress,
who confirmed it, and the failure's reason

Revision ID: h15r0st3rjb1
Revises: h14e1der0001
Create Date: 2026-12-06 21:50:00

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

revision = 'h15r0st3rjb1'
down_revision = 'h14e1der0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('roster_imports') as batch:
        batch.add_column(sa.Column('rows_sealed', sa.Text(), nullable=True))
        batch.add_column(sa.Column('rows_done', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('confirmed_by', sa.Uuid(), nullable=True))
        batch.add_column(sa.Column('progress_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('failure', sa.String(length=2000), nullable=True))


def downgrade():
    with op.batch_alter_table('roster_imports') as batch:
        for column in ('failure', 'progress_at', 'confirmed_by', 'rows_done', 'rows_sealed'):
            batch.drop_column(column)
