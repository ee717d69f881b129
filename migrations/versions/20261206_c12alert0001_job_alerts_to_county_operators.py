"""job alerts to county operators: operators.phone, and deliveries that carry an operator's alert of a job run

A county operator hears of a township's job that failed for good (or a check that found a
difference) by a text, through the township's outbox like every other text: a delivery row with
`operator_id` and `job_run_id` instead of a notification or a digest.

`operator_id` has no foreign key: every key of a tenant table leads with tenant_id (operators are
never deleted, only disabled). On PostgreSQL the job-run key is added NOT VALID and validated after:
the new column is all NULL, and validating takes only a SHARE UPDATE EXCLUSIVE lock, so deliveries
keep being written while a large outbox is checked.

Revision ID: c12alert0001
Revises: c12offb0ard1
Create Date: 2026-12-06 10:51:43

"""
import sqlalchemy as sa
from alembic import op

import jifen.platform.db  # noqa: F401  custom column types (UTCDateTime)

revision = 'c12alert0001'
down_revision = 'c12offb0ard1'
branch_labels = None
depends_on = None

RUN_FK = "fk_notification_deliveries_tenant_id_job_run_id_job_runs"


def upgrade():
    # plain ADD COLUMN on both back-ends (SQLite 3.35+ adds it in place: no copy of `operators`,
    # which other tables' keys point at)
    op.add_column("operators", sa.Column("phone", sa.String(length=20), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.add_column("notification_deliveries", sa.Column("operator_id", sa.Uuid(), nullable=True))
        op.add_column("notification_deliveries", sa.Column("job_run_id", sa.Uuid(), nullable=True))
        op.execute(f"ALTER TABLE notification_deliveries ADD CONSTRAINT {RUN_FK} FOREIGN KEY (tenant_id, job_run_id) "
                   "REFERENCES job_runs (tenant_id, id) NOT VALID")
        op.execute(f"ALTER TABLE notification_deliveries VALIDATE CONSTRAINT {RUN_FK}")
        return
    with op.batch_alter_table("notification_deliveries") as batch_op:  # SQLite: a key needs a table copy
        batch_op.add_column(sa.Column("operator_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("job_run_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(RUN_FK, "job_runs", ["tenant_id", "job_run_id"], ["tenant_id", "id"])


def downgrade():
    with op.batch_alter_table("notification_deliveries") as batch_op:
        batch_op.drop_constraint(RUN_FK, type_="foreignkey")
        batch_op.drop_column("job_run_id")
        batch_op.drop_column("operator_id")
    op.drop_column("operators", "phone")
