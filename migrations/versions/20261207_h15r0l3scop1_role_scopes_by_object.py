"""role_scopes: an index by the object a role reaches (a household's villager accounts on its page)

Without it, "who holds a role on this household" read every scope row of the township (25,000
villager accounts in a 100,000-household township: 4 ms of the household page). Built CONCURRENTLY
in a revision of its own (jifen/platform/concurrent_index.py).

Revision ID: h15r0l3scop1
Revises: h15d1v1dend1
Create Date: 2026-12-07 00:40:00

"""
from jifen.platform import concurrent_index

revision = 'h15r0l3scop1'
down_revision = 'h15d1v1dend1'
branch_labels = None
depends_on = None


def upgrade():
    concurrent_index.build('ix_role_scopes_tenant_object', 'role_scopes', ['tenant_id', 'scope_kind', 'scope_id'])


def downgrade():
    concurrent_index.drop('ix_role_scopes_tenant_object', 'role_scopes')
