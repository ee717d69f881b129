"""stored_files: the index of photos staged for a refused form (the daily sweep reads it)

Built CONCURRENTLY (stored_files is large and written to), in a revision of its own so that a build
that fails leaves the database at h14st4ged001 and a rerun retries only the index
(jifen/platform/concurrent_index.py).

Revision ID: h14st4gedix1
Revises: h14st4ged001
Create Date: 2026-12-06 18:50:00

"""
from jifen.platform import concurrent_index

revision = 'h14st4gedix1'
down_revision = 'h14st4ged001'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('ix_stored_files_staged', 'stored_files', ['tenant_id', 'staged_at'],
                           where='staged_at IS NOT NULL')


def downgrade():
    concurrent_index.drop('ix_stored_files_staged', 'stored_files')
