"""audit_entries append-only: the database refuses UPDATE and DELETE of audit entries

The application only ever inserts audit entries; a trigger makes the database hold to that too, so
an entry can no longer be rewritten or removed by a statement (a forgotten WHERE, a bad script, a
stolen application login). What a trigger cannot stop (TRUNCATE, the owner disabling it) the
nightly anchors catch: see "Issue 11: security" in docs/decisions.md.

- PostgreSQL: a row trigger refuses every UPDATE and DELETE. TRUNCATE fires no row trigger: it stays
  the maintenance route (and the test suite's cleanup).
- SQLite (development, tests): UPDATE is refused; DELETE only while the tenant's chain head row
  exists, i.e. a whole chain may be dropped after its head (the test cleanup deletes audit_heads
  before audit_entries), never entries under a live head.

Revision ID: b11a0aud1t02
Revises: b11a0utb0x01
Create Date: 2026-12-06 05:30:00

"""
from alembic import op

revision = 'b11a0aud1t02'
down_revision = 'b11a0utb0x01'
branch_labels = None
depends_on = None

REFUSED = "audit_entries is append-only"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION audit_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSED}: % refused', TG_OP USING ERRCODE = 'restrict_violation';
            END $$""")
        op.execute("""
            CREATE TRIGGER audit_entries_append_only BEFORE UPDATE OR DELETE ON audit_entries
            FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only()""")
    else:
        op.execute(f"""
            CREATE TRIGGER audit_entries_no_update BEFORE UPDATE ON audit_entries
            BEGIN SELECT RAISE(ABORT, '{REFUSED}: UPDATE refused'); END""")
        op.execute(f"""
            CREATE TRIGGER audit_entries_no_delete BEFORE DELETE ON audit_entries
            WHEN EXISTS (SELECT 1 FROM audit_heads WHERE audit_heads.tenant_id = OLD.tenant_id)
            BEGIN SELECT RAISE(ABORT, '{REFUSED}: DELETE refused'); END""")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_entries_append_only ON audit_entries")
        op.execute("DROP FUNCTION IF EXISTS audit_entries_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_entries_no_delete")
