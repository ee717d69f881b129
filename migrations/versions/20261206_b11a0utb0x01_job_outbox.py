"""job outbox: jobs published by a request, written in its transaction and sent after the commit

Revision ID: b11a0utb0x01
Revises: a5e0c0de0005
Create Date: 2026-12-06 05:20:00

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)
from jifen.platform.citus.distribute import create_tenant_table

# revision identifiers, used by Alembic.
revision = 'b11a0utb0x01'
down_revision = 'a5e0c0de0005'
branch_labels = None
depends_on = None


def upgrade():
    create_tenant_table('job_outbox',
    sa.Column('tenant_id', sa.Uuid(), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('task', sa.String(length=128), nullable=False),
    sa.Column('kwargs', sa.JSON(), nullable=False),
    sa.Column('created_at', jifen.platform.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_job_outbox_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('tenant_id', 'id', name=op.f('pk_job_outbox'))
    )
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_outbox_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_outbox_created_at'))
    op.drop_table('job_outbox')
