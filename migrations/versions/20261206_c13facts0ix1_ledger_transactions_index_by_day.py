"""ledger_transactions: the index by day that the cockpit's day facts read

Built CONCURRENTLY (the ledger is large and postings go on), in a revision of its own so that a
build that fails leaves the database at c13facts0001 and a rerun retries only the index
(jifen/platform/concurrent_index.py). A database that ran c13facts0001 when it still built this
index already has it: the build then does nothing.

Revision ID: c13facts0ix1
Revises: c13facts0001
Create Date: 2026-12-06 16:10:00

"""
from jifen.platform import concurrent_index

revision = 'c13facts0ix1'
down_revision = 'c13facts0001'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('ix_ledger_transactions_tenant_occurred', 'ledger_transactions', ['tenant_id', 'occurred_on'])


def downgrade():
    concurrent_index.drop('ix_ledger_transactions_tenant_occurred', 'ledger_transactions')
