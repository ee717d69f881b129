"""stored_files.storage_key: uploads may live in an S3-compatible bucket

With JIFEN_FILE_STORE=s3 a new upload's bytes go to the bucket under `storage_key` and its row keeps
only the metadata (`data` NULL: the column has been nullable since it was created; the model now
says so too); rows stored before keep their `data` and are read from it. A nullable column without
a default is metadata-only on PostgreSQL: a brief lock, bounded by lock_timeout like every migration.

Revision ID: c12f1lest0r1
Revises: c12alert0001
Create Date: 2026-12-06 11:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'c12f1lest0r1'
down_revision = 'c12alert0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("stored_files") as batch:
        batch.add_column(sa.Column("storage_key", sa.String(length=300), nullable=True))


def downgrade():
    # a file held only in the bucket has no bytes to put back in its row: refuse rather than lose it
    if op.get_bind().execute(sa.text("SELECT 1 FROM stored_files WHERE storage_key IS NOT NULL LIMIT 1")).first():
        raise RuntimeError("stored_files has uploads held only in object storage; copy them back into "
                           "stored_files.data before downgrading")
    with op.batch_alter_table("stored_files") as batch:
        batch.drop_column("storage_key")
