"""residents: the per-township unique index of current residents' ID number hashes

Built CONCURRENTLY (residents is large and written to), in a revision of its own so that a build
that fails leaves the database at c12a0priv001 and a rerun retries only the index
(jifen/platform/concurrent_index.py). A database that ran c12a0priv001 when it still built this
index already has it: the build then does nothing.

Revision ID: c12a0privix1
Revises: c12a0priv001
Create Date: 2026-12-06 16:10:00

"""
from jifen.platform import concurrent_index

revision = 'c12a0privix1'
down_revision = 'c12a0priv001'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('uq_residents_id_number_hmac', 'residents', ['tenant_id', 'id_number_hmac'], unique=True,
                           where='id_number_hmac IS NOT NULL AND left_on IS NULL')


def downgrade():
    concurrent_index.drop('uq_residents_id_number_hmac', 'residents')
