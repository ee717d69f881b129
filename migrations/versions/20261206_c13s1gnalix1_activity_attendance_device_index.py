"""activity_attendance: the partial index of self check-ins by device

Built CONCURRENTLY (attendance holds rows and takes check-ins), in a revision of its own so that a
build that fails leaves the database at c13s1gnals01 and a rerun retries only the index
(jifen/platform/concurrent_index.py). A database that ran c13s1gnals01 when it still built this
index already has it: the build then does nothing.

Revision ID: c13s1gnalix1
Revises: c13s1gnals01
Create Date: 2026-12-06 16:10:00

"""
from jifen.platform import concurrent_index

revision = 'c13s1gnalix1'
down_revision = 'c13s1gnals01'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('ix_activity_attendance_device', 'activity_attendance', ['tenant_id', 'device_hash'],
                           where='device_hash IS NOT NULL')


def downgrade():
    concurrent_index.drop('ix_activity_attendance_device', 'activity_attendance')
